//! Where the 1 GB backup's time goes: each part of the copy and of the check alone, warm cache, the
//! measures taking turns, medians. Usage: `backup-parts DB [--runs N] [--only a,b,..]`.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

/// The buffer of the `pread4M` rows (the copy loop before this change); `cmp` uses `CMP_CHUNK` (default 1 MiB, as
/// the backup does).
const CHUNK: usize = 4 << 20;

fn cp(from: &Path, to: &Path) {
    let _ = std::fs::remove_file(to);
    let status = std::process::Command::new("cp").arg(from).arg(to).status();
    assert!(status.unwrap().success());
}

fn warm(path: &Path) {
    let _ = std::fs::read(path);
}

fn new_file(to: &Path) -> File {
    let _ = std::fs::remove_file(to);
    File::create(to).unwrap()
}

fn pread_loop(from: &Path, mut out: Option<&mut File>, chunk: usize) {
    let src = File::open(from).unwrap();
    let total = src.metadata().unwrap().len();
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    while off < total {
        let len = chunk.min((total - off) as usize);
        src.read_exact_at(&mut buf[..len], off).unwrap();
        if let Some(out) = out.as_deref_mut() {
            out.write_all(&buf[..len]).unwrap();
        }
        off += len as u64;
    }
}

fn cfr(from: &Path, out: &File, kick: Option<u64>) {
    let src = File::open(from).unwrap();
    let total = src.metadata().unwrap().len() as i64;
    let mut off_in: i64 = 0;
    let mut off_out: i64 = 0;
    let step = kick.unwrap_or(1 << 30) as i64;
    let mut kicked = 0i64;
    while off_in < total {
        let want = (total - off_in).min(step) as usize;
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                &mut off_in,
                out.as_raw_fd(),
                &mut off_out,
                want,
                0,
            )
        };
        assert!(n > 0, "copy_file_range {n}");
        if kick.is_some() {
            unsafe {
                libc::sync_file_range(
                    out.as_raw_fd(),
                    kicked,
                    off_out - kicked,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            kicked = off_out;
        }
    }
}

/// Reads both files in chunks and compares them.
fn compare(a: &Path, b: &Path) {
    let chunk: usize = std::env::var("CMP_CHUNK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    let fa = File::open(a).unwrap();
    let fb = File::open(b).unwrap();
    let total = fa.metadata().unwrap().len();
    assert_eq!(total, fb.metadata().unwrap().len());
    let mut ba = vec![0u8; chunk];
    let mut bb = vec![0u8; chunk];
    let mut off = 0u64;
    while off < total {
        let len = chunk.min((total - off) as usize);
        fa.read_exact_at(&mut ba[..len], off).unwrap();
        fb.read_exact_at(&mut bb[..len], off).unwrap();
        assert!(ba[..len] == bb[..len]);
        off += len as u64;
    }
}

fn quick_check(db: &Path, mmap: bool) {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    if mmap {
        conn.execute_batch("PRAGMA mmap_size = 2147418112").unwrap();
    } else {
        conn.execute_batch("PRAGMA cache_size = -2000000").unwrap();
    }
    let v: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, "ok");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let db = PathBuf::from(args.next().expect("DB"));
    let mut runs = 5;
    let mut only: Option<Vec<String>> = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().unwrap().parse().unwrap(),
            "--only" => only = Some(args.next().unwrap().split(',').map(String::from).collect()),
            _ => panic!("unknown {a}"),
        }
    }
    let dir = db.parent().unwrap().join("parts");
    std::fs::create_dir_all(&dir).unwrap();
    let to = dir.join("copy.db");
    let to2 = to.clone();
    let bytes = std::fs::metadata(&db).unwrap().len();
    type Op<'a> = Box<dyn Fn() + 'a>;
    let d = db.clone();
    let measures: Vec<(&str, Op)> = vec![
        (
            "cp",
            Box::new(|| {
                cp(&d, &to);
            }),
        ),
        (
            "cp+fsync",
            Box::new(|| {
                cp(&d, &to);
                File::open(&to).unwrap().sync_all().unwrap();
            }),
        ),
        ("pread4M", Box::new(|| pread_loop(&d, None, CHUNK))),
        (
            "pread4M+write",
            Box::new(|| {
                let mut f = new_file(&to);
                pread_loop(&d, Some(&mut f), CHUNK);
            }),
        ),
        (
            "pread4M+write+fsync",
            Box::new(|| {
                let mut f = new_file(&to);
                pread_loop(&d, Some(&mut f), CHUNK);
                f.sync_all().unwrap();
            }),
        ),
        (
            "pread256K+write",
            Box::new(|| {
                let mut f = new_file(&to);
                pread_loop(&d, Some(&mut f), 256 << 10);
            }),
        ),
        (
            "pread1M+write",
            Box::new(|| {
                let mut f = new_file(&to);
                pread_loop(&d, Some(&mut f), 1 << 20);
            }),
        ),
        (
            "cfr",
            Box::new(|| {
                let f = new_file(&to);
                cfr(&d, &f, None);
            }),
        ),
        (
            "cfr+fsync",
            Box::new(|| {
                let f = new_file(&to);
                cfr(&d, &f, None);
                f.sync_all().unwrap();
            }),
        ),
        (
            "cfr+sfr64M+fsync",
            Box::new(|| {
                let f = new_file(&to);
                cfr(&d, &f, Some(64 << 20));
                f.sync_all().unwrap();
            }),
        ),
        (
            "cfr+sfr64M+cmp+fsync",
            Box::new(|| {
                let f = new_file(&to);
                cfr(&d, &f, Some(64 << 20));
                compare(&d, &to);
                f.sync_all().unwrap();
            }),
        ),
        (
            "cmp",
            Box::new(|| {
                let f = new_file(&to);
                cfr(&d, &f, None);
                drop(f);
                let t = Instant::now();
                compare(&d, &to);
                eprintln!("  cmp alone {:.3}", t.elapsed().as_secs_f64());
            }),
        ),
        ("quick_check_mmap", Box::new(|| quick_check(&d, true))),
        ("quick_check_cache", Box::new(|| quick_check(&d, false))),
        (
            "vacuum_into",
            Box::new(|| {
                let _ = std::fs::remove_file(&to2);
                let c = Connection::open_with_flags(&d, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
                c.execute("VACUUM INTO ?1", [to2.to_str().unwrap()])
                    .unwrap();
            }),
        ),
        (
            "sha256",
            Box::new(|| {
                use sha2::Digest;
                let src = File::open(&d).unwrap();
                let mut h = sha2::Sha256::new();
                let mut buf = vec![0u8; CHUNK];
                let mut off = 0;
                loop {
                    let n = src.read_at(&mut buf, off).unwrap();
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    off += n as u64;
                }
                std::hint::black_box(h.finalize());
            }),
        ),
    ];
    let measures: Vec<_> = measures
        .into_iter()
        .filter(|(n, _)| only.as_ref().is_none_or(|o| o.iter().any(|x| x == n)))
        .collect();
    let mut samples = vec![Vec::new(); measures.len()];
    for run in 0..runs {
        for ((name, op), s) in measures.iter().zip(samples.iter_mut()) {
            let _ = std::fs::remove_file(&to);
            std::process::Command::new("sync").status().unwrap();
            warm(&db);
            let t = Instant::now();
            op();
            let e = t.elapsed();
            eprintln!("run {run} {name}: {:.3}", e.as_secs_f64());
            s.push(e);
        }
    }
    let _ = std::fs::remove_file(&to);
    for ((name, _), mut s) in measures.into_iter().zip(samples) {
        s.sort();
        let m: Duration = s[s.len() / 2];
        println!(
            "| {name} | {:.3} s | {:.0} MB/s | min {:.3} max {:.3} |",
            m.as_secs_f64(),
            bytes as f64 / 1e6 / m.as_secs_f64(),
            s[0].as_secs_f64(),
            s[s.len() - 1].as_secs_f64()
        );
    }
}
