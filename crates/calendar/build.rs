//! Embeds the holiday-cn data: every `data/holiday-cn/<year>.json` becomes one entry of
//! `HOLIDAY_CN_FILES` (in `$OUT_DIR/holiday_cn.rs`, included by `src/cn.rs`), so
//! publishing a new year is a one-file change: drop `<year>.json` into the directory.

use std::{env, fmt::Write as _, fs, path::PathBuf};

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("data")
        .join("holiday-cn");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut years: Vec<(String, PathBuf)> = match fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_owned();
                let stem = name.strip_suffix(".json")?;
                (stem.len() == 4 && stem.bytes().all(|b| b.is_ascii_digit())).then_some((name, p))
            })
            .collect(),
        Err(e) => {
            println!("cargo:warning=cannot read {}: {e}", dir.display());
            Vec::new()
        }
    };
    years.sort();
    let mut out = String::from(
        "/// The embedded holiday-cn files, `(file name, contents)`, in order of year.\n\
         pub(crate) const HOLIDAY_CN_FILES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in &years {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    out.push_str("];\n");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = fs::write(out_dir.join("holiday_cn.rs"), out) {
        println!("cargo:warning=cannot write holiday_cn.rs: {e}");
        std::process::exit(1);
    }
}
