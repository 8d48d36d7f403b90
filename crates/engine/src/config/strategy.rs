//! How organize places a file in the library (the `strategy` setting).

/// How organize places a file: the placement itself is
/// `jobs::organize::strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Reflink, then hardlink, then copy.
    Auto,
    Copy,
    Hardlink,
    Reflink,
    Symlink,
}

impl Strategy {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Self::Auto,
            "copy" => Self::Copy,
            "hardlink" => Self::Hardlink,
            "reflink" => Self::Reflink,
            "symlink" => Self::Symlink,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Copy => "copy",
            Self::Hardlink => "hardlink",
            Self::Reflink => "reflink",
            Self::Symlink => "symlink",
        }
    }
}

/// Stored and sent by name (`"hardlink"`).
impl serde::Serialize for Strategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Strategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Strategy::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "strategy must be auto, copy, hardlink, reflink or symlink, not {name:?}"
            ))
        })
    }
}
