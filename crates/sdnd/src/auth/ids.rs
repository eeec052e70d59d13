//! User and token ids, validated where they enter.

/// A PVE user id, `name@realm`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(text: &str) -> Result<Self, String> {
        let Some((name, realm)) = text.rsplit_once('@') else {
            return Err(format!("invalid user id '{text}': expected NAME@REALM"));
        };
        let name_ok = !name.is_empty()
            && name.len() <= 60
            && !name.chars().any(|c| c.is_control() || matches!(c, ':' | '@' | '!' | '/' | ' '));
        let realm_ok = (2..=32).contains(&realm.len())
            && realm.starts_with(|c: char| c.is_ascii_alphabetic())
            && realm.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if name_ok && realm_ok {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("invalid user id '{text}': expected NAME@REALM (realm: letters, digits, '.-_')"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn realm(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, realm)| realm)
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An API token id (the part after `!`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

impl TokenName {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ok = (2..=64).contains(&text.len())
            && text.starts_with(|c: char| c.is_ascii_alphabetic())
            && text.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(format!("invalid token id '{text}': 2-64 letters, digits, '.-_', starting with a letter"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `USER@REALM!TOKENID`, split into its parts.
pub fn parse_token_id(text: &str) -> Result<(UserId, TokenName), String> {
    let (user, token) = text
        .split_once('!')
        .ok_or_else(|| format!("invalid token id '{text}': expected USER@REALM!TOKENID"))?;
    Ok((UserId::parse(user)?, TokenName::parse(token)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_ids() {
        assert!(UserId::parse("root@pam").is_ok());
        assert_eq!(UserId::parse("alice@pve").unwrap().realm(), "pve");
        assert!(UserId::parse("root").is_err());
        assert!(UserId::parse("a b@pve").is_err());
        assert!(UserId::parse("a:b@pve").is_err());
        assert!(TokenName::parse("ci-1").is_ok());
        assert!(TokenName::parse("1ci").is_err());
        assert!(parse_token_id("alice@pve!ci").is_ok());
        assert!(parse_token_id("alice@pve").is_err());
    }
}
