//! The process's open-files limit: raised to what the system allows at
//! startup (as Go's runtime does), read where work is sized by it.

/// Raises the soft limit on open files to the hard limit; the new soft
/// limit (unchanged where raising it fails).
pub fn raise_open_files_limit() -> u64 {
    let Some(mut lim) = get() else {
        return 0;
    };
    if lim.rlim_cur < lim.rlim_max {
        let wanted = lim.rlim_max;
        lim.rlim_cur = wanted;
        // SAFETY: a valid rlimit for RLIMIT_NOFILE, read just above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
            return wanted;
        }
    }
    get().map(|l| l.rlim_cur).unwrap_or(0)
}

/// The soft limit on open files (0 if it cannot be read).
pub fn open_files_limit() -> u64 {
    get().map(|l| l.rlim_cur).unwrap_or(0)
}

fn get() -> Option<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: RLIMIT_NOFILE and a valid out-pointer.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some(lim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        let before = get().unwrap();
        let now = raise_open_files_limit();
        assert_eq!(now, before.rlim_max);
        assert_eq!(open_files_limit(), now);
    }
}
