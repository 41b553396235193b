//! Writing tokens. Everything the generated code names in the runtime goes
//! through [`private`], so adapting to a runtime change happens here only.

pub(crate) mod app;
pub(crate) mod listener;
pub(crate) mod start;

use proc_macro2::TokenStream;
use quote::quote;

/// The hidden runtime path the generated code uses: `::librevox::__private`.
///
/// It resolves inside the `librevox` crate too, which declares
/// `extern crate self as librevox;`.
pub(crate) fn private() -> TokenStream {
    quote!(::librevox::__private)
}

/// `tokens` followed by the compile errors of `result`.
pub(crate) fn with_errors(tokens: TokenStream, result: syn::Result<()>) -> TokenStream {
    match result {
        Ok(()) => tokens,
        Err(e) => {
            let errors = e.to_compile_error();
            quote!(#tokens #errors)
        }
    }
}
