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
