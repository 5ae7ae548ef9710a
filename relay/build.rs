//! Embeds the web app (`../web`) into the relay binary: one table of (URL path, bytes, ETag).
//! `web/node_modules`, npm's files and the browser tests stay out; `web/vendor/` (xterm.js,
//! copied there by `scripts/web-assets`) goes in when present.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::{env, fs};

const SKIP: &[&str] = &["node_modules", "package.json", "package-lock.json", "tests", ".gitignore"];

/// The files to embed under `dir`, and the directories below it they are in.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, dirs: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if SKIP.contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            dirs.push(p.clone());
            walk(&p, out, dirs);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    // At run time, not env!(): the same compiled build script may serve another checkout (a
    // fresh clone built with a shared target directory, as scripts/test-plain-build does).
    let manifest = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let web = Path::new(&manifest).join("../web").canonicalize().expect("web/ exists");
    let (mut files, mut dirs) = (Vec::new(), Vec::new());
    walk(&web, &mut files, &mut dirs);
    files.sort();
    // Watched: the embedded files and their directories (cargo scans a directory whole), never
    // web/ itself: npm's node_modules and scripts/web-assets' staging would rebuild the relay.
    // A new file at the top of web/ is seen once something else changes.
    for p in files.iter().filter(|f| f.parent() == Some(web.as_path())).chain(&dirs) {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8], &str)] = &[\n");
    for f in &files {
        let rel = f.strip_prefix(&web).unwrap().to_string_lossy().replace('\\', "/");
        let bytes = fs::read(f).expect("readable asset");
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        code.push_str(&format!(
            "    ({:?}, include_bytes!({:?}), \"\\\"{:016x}\\\"\"),\n",
            format!("/{rel}"),
            f.display().to_string(),
            h.finish()
        ));
    }
    code.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("assets.rs"), code).unwrap();
}
