//! Which URLs a webhook may point at. Loopback, private, link-local and other non-public
//! addresses are refused unless `promptd_settings.webhooks_allow_private` is true: a webhook
//! must not become a way to reach the services next to promptd. The check runs when an
//! endpoint is registered and again for every delivery, in the client's own DNS resolver, so a
//! name that later resolves to a private address (DNS rebinding) is refused too; redirects are
//! not followed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Whether `ip` is outside the public internet (loopback, private, link-local, unique-local,
/// shared, documentation, multicast, unspecified, or an IPv4 address mapped into IPv6 that is).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8
        }
    }
}

/// Checks a webhook URL's form and, for an address written in it, where it points. A host name
/// is checked when it is resolved ([`GuardedResolver`], and [`check_resolved`] at
/// registration).
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| {
        format!("url: '{raw}' is not a URL ({e}); give an absolute http:// or https:// URL")
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!(
            "url: the scheme '{}' is not allowed; use http:// or https://",
            url.scheme()
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "url: credentials in the URL are not allowed; the signature authenticates promptd to your endpoint"
                .to_owned(),
        );
    }
    let ip = match url.host() {
        None => return Err(format!("url: '{raw}' has no host")),
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(d))
            if d.eq_ignore_ascii_case("localhost") || d.ends_with(".localhost") =>
        {
            Some(IpAddr::from([127, 0, 0, 1]))
        }
        Some(Host::Domain(_)) => None,
    };
    if let Some(ip) = ip
        && !allow_private
        && is_private(ip)
    {
        return Err(refusal(&url, ip));
    }
    Ok(url)
}

fn refusal(url: &Url, ip: IpAddr) -> String {
    format!(
        "url: {} points at {ip}, a loopback or private address; webhooks may only reach public addresses unless promptd_settings.webhooks_allow_private is true",
        url.host_str().unwrap_or("")
    )
}

/// Resolves `url`'s host name and refuses it if any address is private (at registration).
pub async fn check_resolved(url: &Url, allow_private: bool) -> Result<(), String> {
    let Some(Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    if allow_private {
        return Ok(());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::lookup_host((host.to_owned(), port)),
    )
    .await
    .map_err(|_| format!("url: resolving {host} took longer than 5 s; check the name"))?
    .map_err(|e| format!("url: cannot resolve {host} ({e}); check the name"))?;
    for a in addrs {
        if is_private(a.ip()) {
            return Err(refusal(url, a.ip()));
        }
    }
    Ok(())
}

/// The delivery client's DNS resolver: the system's, refusing private addresses unless allowed.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow && let Some(bad) = addrs.iter().find(|a| is_private(a.ip())) {
                return Err(format!(
                    "{host} resolves to {}, a loopback or private address (promptd_settings.webhooks_allow_private is false)",
                    bad.ip()
                )
                .into());
            }
            let out: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(out)
        })
    }
}

/// The resolver as reqwest takes it.
pub fn resolver(allow_private: bool) -> Arc<GuardedResolver> {
    Arc::new(GuardedResolver { allow_private })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_private_targets_are_refused_unless_allowed() {
        for raw in [
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://172.16.5.5/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
        ] {
            let err = check_url(raw, false).unwrap_err();
            assert!(err.contains("webhooks_allow_private"), "{raw}: {err}");
            assert!(check_url(raw, true).is_ok(), "{raw}");
        }
    }

    #[test]
    fn public_targets_and_names_pass_the_form_check() {
        assert!(check_url("https://93.184.216.34/hook", false).is_ok());
        assert!(check_url("https://hooks.example.com/promptd", false).is_ok());
    }

    #[test]
    fn urls_of_the_wrong_form_are_refused_with_a_reason() {
        assert!(
            check_url("ftp://example.com/", false)
                .unwrap_err()
                .contains("scheme")
        );
        assert!(
            check_url("not a url", false)
                .unwrap_err()
                .contains("not a URL")
        );
        assert!(
            check_url("https://user:pw@example.com/", false)
                .unwrap_err()
                .contains("credentials")
        );
    }
}
