// SPDX-License-Identifier: MIT
//! plugin-host SOCKET SECONDS PLUGIN_A PLUGIN_B PLUGIN_C PLUGIN_B_REBUILT
//!
//! dlopens three plugin cdylibs (each with its own std and bkclient), calls
//! them from 6 threads at once for SECONDS, and a third of the way in
//! unloads plugin B (dlclose, once no thread is inside it) and loads its
//! rebuilt version from another file.  Prints per plugin how many tasks
//! completed and the total lost (asked for but not completed and checked);
//! exits 1 unless that is 0.  See docs/RUST.md.

use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

extern "C" {
    fn dlopen(path: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn dlclose(handle: *mut c_void) -> c_int;
    fn dlerror() -> *const c_char;
}
const RTLD_NOW: c_int = 2;
const RTLD_LOCAL: c_int = 0;
const THREADS: usize = 6;
const BATCH: u32 = 64;

type InfoFn = extern "C" fn() -> *const c_char;
type SizeFn = extern "C" fn() -> u32;
type StartFn = extern "C" fn(*const c_char) -> c_int;
type RunFn = extern "C" fn(u32, *mut u64) -> c_int;
type StopFn = extern "C" fn();

/// One dlopen'ed plugin and its entry points.
struct Plugin {
    handle: *mut c_void,
    info: String,
    run: RunFn,
    stop: StopFn,
}

// SAFETY: the entry points are plain C functions that the plugin allows from any thread.
unsafe impl Send for Plugin {}
unsafe impl Sync for Plugin {}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated message.
    let p = unsafe { dlerror() };
    if p.is_null() {
        "unknown dl error".into()
    } else {
        // SAFETY: as above.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn sym<T: Copy>(h: *mut c_void, name: &str) -> Result<T, String> {
    let c = CString::new(name).unwrap();
    // SAFETY: h is a live handle from dlopen.
    let p = unsafe { dlsym(h, c.as_ptr()) };
    if p.is_null() {
        return Err(format!("{}: {}", name, dl_error()));
    }
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: T is the fn pointer type the plugin exports under this name.
    Ok(unsafe { std::mem::transmute_copy(&p) })
}

fn load(path: &str, socket: &CStr) -> Result<Plugin, String> {
    let cpath = CString::new(path).unwrap();
    // SAFETY: a NUL-terminated path; the handle is closed in unload.
    let h = unsafe { dlopen(cpath.as_ptr(), RTLD_NOW | RTLD_LOCAL) };
    if h.is_null() {
        return Err(format!("dlopen {}: {}", path, dl_error()));
    }
    let info: InfoFn = sym(h, "plugin_info")?;
    let size: SizeFn = sym(h, "plugin_job_size")?;
    let start: StartFn = sym(h, "plugin_start")?;
    // SAFETY: plugin_info returns a static NUL-terminated string.
    let text = unsafe { CStr::from_ptr(info()) }.to_string_lossy().into_owned();
    let r = start(socket.as_ptr());
    if r < 0 {
        return Err(format!("{}: plugin_start failed with {}", path, r));
    }
    Ok(Plugin {
        handle: h,
        info: format!("{} ({}-byte Job)", text, size()),
        run: sym(h, "plugin_run")?,
        stop: sym(h, "plugin_stop")?,
    })
}

fn unload(p: Plugin) -> c_int {
    (p.stop)(); // joins the plugin's threads: none runs its code after this
    // SAFETY: no thread is inside the plugin (the caller holds its slot's write lock).
    unsafe { dlclose(p.handle) }
}

struct Slot {
    plugin: RwLock<Option<Plugin>>,
    asked: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    names: RwLock<Vec<String>>,
}

fn worker(slots: Arc<Vec<Slot>>, stop: Arc<AtomicBool>, t: usize) {
    let mut i = t;
    while !stop.load(Ordering::Relaxed) {
        let s = &slots[i % slots.len()];
        i += 1;
        let guard = s.plugin.read().unwrap();
        if let Some(p) = guard.as_ref() {
            let mut done = 0u64;
            s.asked.fetch_add(BATCH as u64, Ordering::Relaxed);
            if (p.run)(BATCH, &mut done) < 0 {
                s.errors.fetch_add(1, Ordering::Relaxed);
            }
            s.completed.fetch_add(done, Ordering::Relaxed);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 7 {
        eprintln!("usage: plugin-host SOCKET SECONDS PLUGIN_A PLUGIN_B PLUGIN_C PLUGIN_B_REBUILT");
        std::process::exit(2);
    }
    let socket = CString::new(args[1].clone()).unwrap();
    let secs: f64 = args[2].parse().expect("SECONDS");
    let mut slots = Vec::new();
    for path in &args[3..6] {
        let p = load(path, &socket).unwrap_or_else(|e| panic!("{}", e));
        println!("loaded {}", p.info);
        slots.push(Slot {
            names: RwLock::new(vec![p.info.clone()]),
            plugin: RwLock::new(Some(p)),
            asked: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
    }
    let slots = Arc::new(slots);
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, st) = (slots.clone(), stop.clone());
            std::thread::spawn(move || worker(s, st, t))
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs / 3.0));
    {
        // The write lock waits until no thread is inside plugin B.
        let b = &slots[1];
        let mut g = b.plugin.write().unwrap();
        let old = g.take().expect("plugin B loaded");
        let name = old.info.clone();
        let r = unload(old);
        // glibc keeps a library mapped while a thread-local destructor of its code is pending
        // (here: std's, in threads that called into it); it goes when those threads end.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
        let mapped = if maps.contains(&args[4]) { "still mapped until its callers' threads end" } else { "unmapped" };
        let p = load(&args[6], &socket).unwrap_or_else(|e| panic!("{}", e));
        println!(
            "after {:.1} s: unloaded {} (dlclose {}, {}), loaded {}",
            t0.elapsed().as_secs_f64(),
            name,
            r,
            mapped,
            p.info
        );
        b.names.write().unwrap().push(p.info.clone());
        *g = Some(p);
    }
    std::thread::sleep(Duration::from_secs_f64(secs * 2.0 / 3.0));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let mut lost = 0;
    for (i, s) in slots.iter().enumerate() {
        let (asked, done) = (s.asked.load(Ordering::Relaxed), s.completed.load(Ordering::Relaxed));
        lost += asked - done;
        println!(
            "plugin {}: {} tasks completed of {} ({} errors) - {}",
            (b'A' + i as u8) as char,
            done,
            asked,
            s.errors.load(Ordering::Relaxed),
            s.names.read().unwrap().join(" -> ")
        );
    }
    for s in slots.iter() {
        if let Some(p) = s.plugin.write().unwrap().take() {
            unload(p);
        }
    }
    println!("{} lost", lost);
    std::process::exit(if lost == 0 { 0 } else { 1 });
}
