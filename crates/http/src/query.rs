//! The request's query arguments, in order, read the way webapp2's `request.get` reads them.

/// Query arguments in the order they appeared; the first value of a repeated name wins.
#[derive(Debug, Clone, Default)]
pub struct QueryArgs {
    args: Vec<(String, String)>,
}

impl QueryArgs {
    /// Parses a raw query string (without `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        let mut args: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !args.iter().any(|(name, _)| name == &k) {
                args.push((k.into_owned(), v.into_owned()));
            }
        }
        Self { args }
    }

    /// The value of `name`; a missing argument reads as "" (as in AppRTC).
    pub fn get(&self, name: &str) -> &str {
        self.args.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
    }

    /// Whether `name` was given at all (even empty).
    pub fn has(&self, name: &str) -> bool {
        self.args.iter().any(|(k, _)| k == name)
    }

    /// All arguments in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.args.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_first_value() {
        let q = QueryArgs::parse(Some("wshpp=localhost:8089&wstls=true&wshpp=x&ts="));
        assert_eq!(q.get("wshpp"), "localhost:8089");
        assert_eq!(q.get("missing"), "");
        assert!(q.has("ts"));
        assert_eq!(q.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["wshpp", "wstls", "ts"]);
    }
}
