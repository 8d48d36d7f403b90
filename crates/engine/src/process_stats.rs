//! Process figures for /metrics and system.status: heap bytes in use (as
//! the C allocator reports them) and /proc readings.

/// Bytes in use on the heap, from the C allocator's own books: glibc's
/// `mallinfo2` (chunks in use plus mmapped blocks), looked up at run time
/// so the binary still loads on a glibc older than 2.33; 0 where there is
/// none. Nothing is counted per allocation: a shared counter touched on
/// every allocation by every thread cost the scan 5-8 % of its CPU.
pub fn allocated_bytes() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::OnceLock;
        type MallInfo2 = unsafe extern "C" fn() -> libc::mallinfo2;
        // The address of a libc function: found once, never changes.
        static MALLINFO2: OnceLock<Option<MallInfo2>> = OnceLock::new();
        let f = MALLINFO2.get_or_init(|| {
            // SAFETY: dlsym with a NUL-terminated name has no other
            // preconditions; a non-null result is glibc's mallinfo2, whose
            // signature is the one above.
            unsafe {
                let p = libc::dlsym(libc::RTLD_DEFAULT, c"mallinfo2".as_ptr());
                (!p.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, MallInfo2>(p))
            }
        });
        if let Some(f) = f {
            // SAFETY: mallinfo2 takes no arguments and only reads the
            // allocator's state under its locks.
            let m = unsafe { f() };
            return m.uordblks + m.hblkhd;
        }
    }
    0
}

/// Standard process figures read from /proc (Linux); zeros elsewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
    pub threads: u64,
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 { v as u64 } else { 4096 }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as f64 } else { 100.0 }
}

pub fn proc_stats() -> ProcStats {
    let mut s = ProcStats::default();
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            // rest[0] is field 3 (state): field N is rest[N - 3].
            s.cpu_seconds = (num(11) + num(12)) as f64 / ticks_per_second();
            s.threads = num(17);
            s.virtual_bytes = num(20);
            s.resident_bytes = num(21) * page_size();
            let boot = std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|t| {
                    t.lines().find_map(|l| {
                        l.strip_prefix("btime ")
                            .and_then(|v| v.trim().parse::<u64>().ok())
                    })
                })
                .unwrap_or(0);
            s.start_time_seconds = boot as f64 + num(19) as f64 / ticks_per_second();
        }
    }
    s.open_fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid out pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
        s.max_fds = rl.rlim_cur;
    }
    s
}
