//! Settings from the `LIBREVOX_*` environment (as the CLI reads it) and,
//! with the `serde` feature, from the README's TOML example.

use std::time::Duration;

use librevox::{ConnectOptions, ConnectionConfig, Error, InboundSettings};

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

#[test]
fn the_environment_sets_what_the_cli_reads() {
    let env = vars(&[
        ("LIBREVOX_HOST", "10.0.0.5"),
        ("LIBREVOX_PORT", "8022"),
        ("LIBREVOX_PASSWORD", "s3cret"),
        ("LIBREVOX_USER", "1000@example.com"),
        ("LIBREVOX_TIMEOUT", "2.5"),
        ("LIBREVOX_JOB_TIMEOUT", "60"),
    ]);
    let s = InboundSettings::from_env_with(&env).unwrap();
    assert_eq!(s.addr, "10.0.0.5:8022");
    assert_eq!(s.password.expose(), "s3cret");
    assert_eq!(s.user.as_deref(), Some("1000@example.com"));
    assert_eq!(s.connect_timeout, Duration::from_millis(2500));
    assert_eq!(s.config.reply_timeout, Duration::from_millis(2500));
    assert_eq!(s.config.job_timeout, Duration::from_secs(60));
    let c = ConnectOptions::from_env_with(&env).unwrap();
    assert_eq!(
        (c.addr.as_str(), c.password.expose()),
        ("10.0.0.5:8022", "s3cret")
    );
    assert_eq!(c.config.job_timeout, Duration::from_secs(60));
    // Everything else keeps its default.
    assert_eq!(s.shutdown_grace, InboundSettings::default().shutdown_grace);
    assert_eq!(
        s.config.app_timeout,
        ConnectionConfig::default().app_timeout
    );
}

#[test]
fn unset_or_empty_variables_keep_the_defaults() {
    let d = InboundSettings::default();
    for env in [
        vars(&[]),
        vars(&[("LIBREVOX_HOST", ""), ("LIBREVOX_TIMEOUT", " ")]),
    ] {
        let s = InboundSettings::from_env_with(env).unwrap();
        assert_eq!(s.addr, d.addr);
        assert_eq!(s.password.expose(), "ClueCon");
        assert_eq!(s.user, None);
        assert_eq!(s.connect_timeout, d.connect_timeout);
        assert_eq!(s.config.reply_timeout, Duration::from_secs(30));
    }
}

#[test]
fn a_host_or_port_alone_takes_the_other_default() {
    let s = InboundSettings::from_env_with(vars(&[("LIBREVOX_PORT", "8099")])).unwrap();
    assert_eq!(s.addr, "127.0.0.1:8099");
    let s = InboundSettings::from_env_with(vars(&[("LIBREVOX_HOST", "fs.example.com")])).unwrap();
    assert_eq!(s.addr, "fs.example.com:8021");
    let s = InboundSettings::from_env_with(vars(&[("LIBREVOX_HOST", "::1")])).unwrap();
    assert_eq!(s.addr, "[::1]:8021");
}

#[test]
fn invalid_values_name_the_variable() {
    for (name, value) in [
        ("LIBREVOX_PORT", "http"),
        ("LIBREVOX_PORT", "70000"),
        ("LIBREVOX_TIMEOUT", "-1"),
        ("LIBREVOX_TIMEOUT", "10s"),
        ("LIBREVOX_JOB_TIMEOUT", "inf"),
    ] {
        let err = ConnectionConfig::from_env_with(vars(&[(name, value)]))
            .err()
            .or_else(|| InboundSettings::from_env_with(vars(&[(name, value)])).err())
            .unwrap_or_else(|| panic!("{name}={value} was accepted"));
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(
            err.to_string().contains(&format!("{name}={value}")),
            "{err}"
        );
    }
}

#[test]
fn from_env_reads_the_process_environment() {
    // The only test in this binary that touches the process environment.
    std::env::set_var("LIBREVOX_JOB_TIMEOUT", "7");
    let c = ConnectionConfig::from_env();
    std::env::remove_var("LIBREVOX_JOB_TIMEOUT");
    assert_eq!(c.unwrap().job_timeout, Duration::from_secs(7));
}

#[cfg(feature = "serde")]
mod files {
    use std::time::Duration;

    use librevox::listener::LogOptions;
    use librevox::{ConnectionConfig, InboundSettings, OutboundSettings, OverflowPolicy};
    use serde::Deserialize;

    /// The struct of the README's "Configuration" example.
    #[derive(Deserialize)]
    struct AppConfig {
        inbound: InboundSettings,
        outbound: OutboundSettings,
        log: LogOptions,
    }

    fn readme_toml() -> &'static str {
        let readme = include_str!("../../README.md");
        let section = &readme[readme
            .find("## Configuration")
            .expect("README has a Configuration section")..];
        let start = section.find("```toml\n").expect("a TOML example") + "```toml\n".len();
        let end = section[start..].find("```").expect("the example ends") + start;
        &section[start..end]
    }

    #[test]
    fn the_readme_example_reads() {
        let c: AppConfig = toml::from_str(readme_toml()).unwrap();
        assert_eq!(c.inbound.addr, "10.0.0.5:8021");
        assert_eq!(c.inbound.password.expose(), "ClueCon");
        assert_eq!(c.inbound.connect_timeout, Duration::from_secs(5));
        assert_eq!(c.inbound.backoff.initial, Duration::from_millis(500));
        assert_eq!(c.inbound.config.reply_timeout, Duration::from_secs(10));
        assert_eq!(c.inbound.config.overflow, OverflowPolicy::DropNewest);
        assert_eq!(c.inbound.config.limits.max_body, 4_194_304);
        assert!(c.inbound.config.liveness.is_none());
        assert_eq!(c.outbound.bind, "0.0.0.0:8084");
        assert_eq!(c.outbound.allow, ["10.0.0.5/32".parse().unwrap()]);
        assert_eq!(c.outbound.shutdown_grace, Duration::from_secs(60));
        let live = c.outbound.config.liveness.expect("a liveness table");
        assert_eq!(
            (live.interval, live.timeout),
            (Duration::from_secs(15), Duration::from_secs(5))
        );
        assert_eq!(c.log.level.as_deref(), Some("librevox=debug,info"));
        // Unset fields keep their defaults.
        assert_eq!(
            c.inbound.shutdown_grace,
            InboundSettings::default().shutdown_grace
        );
        assert_eq!(
            c.outbound.config.app_timeout,
            ConnectionConfig::default().app_timeout
        );
    }

    #[test]
    fn an_empty_table_is_the_defaults() {
        let c: ConnectionConfig = toml::from_str("").unwrap();
        let d = ConnectionConfig::default();
        assert_eq!(
            (
                c.reply_timeout,
                c.job_timeout,
                c.app_timeout,
                c.hangup_grace
            ),
            (
                d.reply_timeout,
                d.job_timeout,
                d.app_timeout,
                d.hangup_grace
            )
        );
        assert_eq!(
            (c.event_capacity, c.max_backlog, c.limits),
            (d.event_capacity, d.max_backlog, d.limits)
        );
        assert_eq!(c.liveness, d.liveness);
        assert_eq!(c.write_high_water, d.write_high_water);
    }

    #[test]
    fn the_outbound_limits_are_settings() {
        let c: OutboundSettings =
            toml::from_str("max_sessions = 500\nallow = [\"10.0.0.5\", \"10.0.1.0/24\"]").unwrap();
        assert_eq!(c.max_sessions, 500);
        let allow: Vec<String> = c.allow.iter().map(|n| n.to_string()).collect();
        assert_eq!(allow, ["10.0.0.5/32", "10.0.1.0/24"]);
        let d = OutboundSettings::default();
        assert_eq!((d.max_sessions, d.allow.len()), (10_000, 0));
        let bad = toml::from_str::<OutboundSettings>("allow = [\"10.0.0/8\"]")
            .err()
            .unwrap()
            .to_string();
        assert!(bad.contains("`10.0.0/8`") && bad.contains("CIDR"), "{bad}");
    }

    #[test]
    fn the_write_high_water_mark_is_a_setting() {
        let c: ConnectionConfig = toml::from_str("write_high_water = 65536").unwrap();
        assert_eq!(c.write_high_water, 65_536);
        assert_eq!(ConnectionConfig::default().write_high_water, 1 << 20);
    }

    #[test]
    fn mistakes_are_errors_that_say_what_is_wrong() {
        let typo = toml::from_str::<ConnectionConfig>("reply_timout = \"5s\"")
            .err()
            .unwrap()
            .to_string();
        assert!(
            typo.contains("reply_timout") && typo.contains("reply_timeout"),
            "{typo}"
        );
        let unit = toml::from_str::<ConnectionConfig>("reply_timeout = \"5 parsecs\"")
            .err()
            .unwrap()
            .to_string();
        assert!(unit.contains("parsecs"), "{unit}");
        let number = toml::from_str::<ConnectionConfig>("reply_timeout = 5")
            .err()
            .unwrap()
            .to_string();
        assert!(number.contains("reply_timeout"), "{number}");
        let policy = toml::from_str::<ConnectionConfig>("overflow = \"drop\"")
            .err()
            .unwrap()
            .to_string();
        assert!(
            policy.contains("backpressure") && policy.contains("drop_newest"),
            "{policy}"
        );
        let live = toml::from_str::<ConnectionConfig>("liveness = \"sometimes\"")
            .err()
            .unwrap()
            .to_string();
        assert!(live.contains("liveness = false"), "{live}");
    }

    #[test]
    fn liveness_can_be_switched_off_or_on() {
        let off: ConnectionConfig = toml::from_str("liveness = \"off\"").unwrap();
        assert!(off.liveness.is_none());
        let on: ConnectionConfig = toml::from_str("liveness = true").unwrap();
        assert_eq!(on.liveness, ConnectionConfig::default().liveness);
    }
}
