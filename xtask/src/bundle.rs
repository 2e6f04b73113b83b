//! `cargo xtask bundle`: the installers, in release with the app's features, then a check of
//! the Debian package that was built.
//!
//! The Tauri CLI builds them (`tauri build`: the UI first, then the app, then the bundles;
//! targets and icons in `tauri.conf.json`). Here that is deb and rpm on Linux (AppImage needs
//! a tool downloaded at build time), app and dmg on macOS, msi and nsis on Windows.
//!
//! The .deb is then read back with `dpkg-deb`: its name, its version (the app's, which is the
//! workspace's), what it installs (the binary, the desktop entry, the icons), and that its
//! `Depends` names every package the binary links against (`dpkg-shlibdeps` on the packaged
//! binary) and the tray library the app loads at run time. A package that installs but fails
//! to start on a clean machine fails here instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use crate::{APP_FEATURES, setup, target_dir};

/// The Debian package's name (Tauri derives it from `productName`).
const DEB_PACKAGE: &str = "legato";
/// The binary the package installs (`mainBinaryName`).
const BINARY: &str = "legato-app";

/// Packages the .deb must depend on whatever the linker says: the web view and GTK, and the
/// tray library, which the app loads with `dlopen` (tray-icon through libappindicator-sys),
/// so no linker tool sees it; without it the app starts with no tray (`src-tauri/src/lib.rs`).
/// Tauri's .deb names these three itself; `bundle.linux.deb.depends` in `tauri.conf.json`
/// adds the other libraries `dpkg-shlibdeps` finds (libssl3 for TLS, libsoup, glib, ...).
const RUNTIME_PACKAGES: &[&str] = &[
    "libwebkit2gtk-4.1-0",
    "libgtk-3-0",
    "libayatana-appindicator3-1",
];

/// Files the .deb must install (`dpkg-deb -c` lists them with or without a leading `./`):
/// the binary, the desktop
/// entry and the icon in each size of `bundle.icon` (Tauri names 256×256 from
/// `128x128@2x.png` `256x256@2`).
const DEB_FILES: &[&str] = &[
    "usr/bin/legato-app",
    "usr/share/applications/Legato.desktop",
    "usr/share/icons/hicolor/32x32/apps/legato-app.png",
    "usr/share/icons/hicolor/64x64/apps/legato-app.png",
    "usr/share/icons/hicolor/128x128/apps/legato-app.png",
    "usr/share/icons/hicolor/256x256@2/apps/legato-app.png",
    "usr/share/icons/hicolor/512x512/apps/legato-app.png",
];

pub fn run() -> Result<()> {
    setup::run()?;
    let bundles = if cfg!(target_os = "linux") {
        "deb,rpm"
    } else if cfg!(target_os = "macos") {
        "app,dmg"
    } else {
        "msi,nsis"
    };
    let started = Instant::now();
    // `tauri build` runs `beforeBuildCommand` (the UI's build) and cargo in release.
    let args = [
        "--no-install",
        "tauri",
        "build",
        "--ci",
        "--bundles",
        bundles,
        APP_FEATURES[0],
        APP_FEATURES[1],
    ];
    crate::cmd("npx", &args)?;
    eprintln!(
        "xtask: built the {bundles} bundles in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let bundle_dir = target_dir().join("release").join("bundle");
    if !cfg!(target_os = "linux") {
        eprintln!("xtask: bundles in {}", bundle_dir.display());
        return Ok(());
    }
    let version = app_version()?;
    let deb = find_package(&bundle_dir.join("deb"), &version, "deb")?;
    check_deb(&deb, &version)?;
    eprintln!("xtask: checked {}", deb.display());
    let rpm = find_package(&bundle_dir.join("rpm"), &version, "rpm")?;
    eprintln!("xtask: built {}", rpm.display());
    Ok(())
}

/// The app's version as cargo resolves it (`legato-app` takes the workspace's).
fn app_version() -> Result<String> {
    let out = output("cargo", &["pkgid", "-p", "legato-app"])?;
    // `path+file:///…#legato-app@0.1.0` (or `…#0.1.0`).
    let version = out.trim().rsplit(['@', '#']).next().unwrap_or_default();
    ensure!(!version.is_empty(), "cannot read a version from `{out}`");
    Ok(version.to_owned())
}

/// The one `*.<ext>` in `dir` whose name carries `version` (older builds may lie beside it).
fn find_package(dir: &Path, version: &str, ext: &str) -> Result<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("no {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        // `Legato_0.1.0_amd64.deb`, `Legato-0.1.0-1.x86_64.rpm`.
        let versioned = [format!("_{version}_"), format!("-{version}-")];
        if name.ends_with(&format!(".{ext}")) && versioned.iter().any(|v| name.contains(v)) {
            found.push(path);
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no .{ext} of version {version} in {}", dir.display()),
        many => bail!("several .{ext} of version {version}: {many:?}"),
    }
}

/// Reads the .deb back and fails, naming each problem, unless it is what users install.
fn check_deb(deb: &Path, version: &str) -> Result<()> {
    let deb_arg = deb.to_str().context("the .deb's path is not UTF-8")?;
    let control = output("dpkg-deb", &["-f", deb_arg])?;
    eprintln!("xtask: {} (dpkg-deb -f):\n{control}", deb.display());
    let listing = output("dpkg-deb", &["-c", deb_arg])?;
    let linked = linked_packages(deb)?;
    let mut required: BTreeSet<String> = RUNTIME_PACKAGES.iter().map(|p| p.to_string()).collect();
    required.extend(linked);
    let problems = [
        control_problems(&control, DEB_PACKAGE, version, &required),
        missing_files(&listing, DEB_FILES),
    ]
    .concat();
    if !problems.is_empty() {
        bail!(
            "{} is not a package to ship:\n  - {}\n(the package's fields come from \
             tauri.conf.json, `bundle.linux.deb`)",
            deb.display(),
            problems.join("\n  - ")
        );
    }
    eprintln!(
        "xtask: the .deb is {DEB_PACKAGE} {version}, installs {} checked files and depends on \
         {}",
        DEB_FILES.len(),
        required.into_iter().collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// The packages providing the libraries the packaged binary links against: the binary is
/// taken out of the .deb and given to `dpkg-shlibdeps` (which wants a `debian/control`).
fn linked_packages(deb: &Path) -> Result<Vec<String>> {
    let work = target_dir().join("bundle-check");
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    std::fs::create_dir_all(work.join("debian"))?;
    std::fs::write(
        work.join("debian/control"),
        "Source: legato\n\nPackage: legato\nArchitecture: any\n",
    )?;
    let root = work.join("root");
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(deb)
        .arg(&root)
        .status()
        .context("cannot start dpkg-deb")?;
    ensure!(status.success(), "dpkg-deb -x failed with {status}");
    let binary = root.join("usr/bin").join(BINARY);
    ensure!(binary.exists(), "the .deb has no usr/bin/{BINARY}");
    let out = Command::new("dpkg-shlibdeps")
        .args(["-O", "-e"])
        .arg(&binary)
        .current_dir(&work)
        .output()
        .context("cannot start dpkg-shlibdeps (package dpkg-dev; `cargo xtask setup`)")?;
    ensure!(
        out.status.success(),
        "dpkg-shlibdeps failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packages = shlibs_packages(&String::from_utf8_lossy(&out.stdout))?;
    std::fs::remove_dir_all(&work)?;
    Ok(packages)
}

/// The package names of `dpkg-shlibdeps -O` output (`shlibs:Depends=libc6 (>= 2.34), …`).
fn shlibs_packages(output: &str) -> Result<Vec<String>> {
    let depends = output
        .lines()
        .find_map(|line| line.strip_prefix("shlibs:Depends="))
        .with_context(|| format!("no shlibs:Depends in dpkg-shlibdeps' output `{output}`"))?;
    Ok(depends_clauses(depends)
        .into_iter()
        .filter_map(|alternatives| alternatives.into_iter().next())
        .collect())
}

/// The fields of `dpkg-deb -f` output (`Name: value`; continuation lines start with a blank
/// and belong to the field above).
fn control_fields(control: &str) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in control.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    fields
}

/// A `Depends` value as clauses of alternatives, package names only (`a (>= 1), b | c:any`
/// gives `[[a], [b, c]]`).
fn depends_clauses(depends: &str) -> Vec<Vec<String>> {
    depends
        .split(',')
        .map(|clause| {
            clause
                .split('|')
                .filter_map(|alt| {
                    let name = alt.trim().split([' ', '(', ':', '[']).next()?;
                    (!name.is_empty()).then(|| name.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .filter(|alternatives| !alternatives.is_empty())
        .collect()
}

/// What is wrong with the package's control fields: another name or version, or a required
/// package that `Depends` does not name (as a clause of its own: `a | b` guarantees neither).
fn control_problems(
    control: &str,
    package: &str,
    version: &str,
    required: &BTreeSet<String>,
) -> Vec<String> {
    let fields = control_fields(control);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let mut problems = Vec::new();
    match field("Package") {
        Some(p) if p == package => {}
        other => problems.push(format!("Package is {other:?}, expected `{package}`")),
    }
    match field("Version") {
        Some(v) if v == version => {}
        other => problems.push(format!(
            "Version is {other:?}, expected the workspace's `{version}`"
        )),
    }
    let named: BTreeSet<String> = depends_clauses(field("Depends").unwrap_or_default())
        .into_iter()
        .filter(|alternatives| alternatives.len() == 1)
        .flatten()
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .filter(|p| !named.contains(*p))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "Depends does not name {} (the app loads them at run time)",
            missing.join(", ")
        ));
    }
    problems
}

/// The wanted paths (relative, no `./`) that `dpkg-deb -c` output (tar's long listing: the
/// path is the sixth column, a symlink's target after ` -> `) does not list.
fn missing_files(listing: &str, wanted: &[&str]) -> Vec<String> {
    let listed: BTreeSet<&str> = listing
        .lines()
        .filter_map(|line| {
            let path = line.split_whitespace().nth(5)?;
            Some(path.strip_prefix("./").unwrap_or(path))
        })
        .collect();
    wanted
        .iter()
        .filter(|path| !listed.contains(**path))
        .map(|path| format!("the package does not install {path}"))
        .collect()
}

fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot start `{program}`"))?;
    ensure!(
        out.status.success(),
        "`{program} {}` failed with {}: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8(out.stdout).with_context(|| format!("`{program}` printed non-UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `dpkg-deb -f` of a Tauri .deb (shape as printed: a multi-line Description).
    const CONTROL: &str = "\
Package: legato
Version: 0.1.0
Architecture: amd64
Installed-Size: 20480
Maintainer: Legato
Priority: optional
Section: sound
Depends: libwebkit2gtk-4.1-0 (>= 2.41.90), libgtk-3-0 (>= 3.21.5), libayatana-appindicator3-1, libssl3:amd64 (>= 3.0.0), libfoo1 | libbar1
Description: Offline-first music practice log
 Legato keeps a log of your practice sessions,
 pieces and goals.
";

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn reads_the_control_fields() {
        let fields = control_fields(CONTROL);
        assert_eq!(fields[0], ("Package".into(), "legato".into()));
        assert_eq!(fields[1], ("Version".into(), "0.1.0".into()));
        let description = fields.iter().find(|(n, _)| n == "Description").unwrap();
        assert_eq!(
            description.1,
            "Offline-first music practice log\nLegato keeps a log of your practice sessions,\npieces and goals."
        );
        assert_eq!(fields.len(), 9);
    }

    #[test]
    fn depends_are_package_names_in_clauses() {
        assert_eq!(
            depends_clauses("a (>= 1), b:amd64 | c [linux-any],, d"),
            [vec!["a"], vec!["b", "c"], vec!["d"]]
        );
        assert!(depends_clauses("").is_empty());
    }

    #[test]
    fn a_package_with_every_runtime_dependency_passes() {
        let required = set(&[
            "libwebkit2gtk-4.1-0",
            "libgtk-3-0",
            "libayatana-appindicator3-1",
            "libssl3",
        ]);
        assert_eq!(
            control_problems(CONTROL, "legato", "0.1.0", &required),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_missing_tray_library_or_linked_library_fails_and_is_named() {
        let control = CONTROL.replace(" libayatana-appindicator3-1,", "");
        let required = set(&["libayatana-appindicator3-1", "libgtk-3-0", "libcairo2"]);
        let problems = control_problems(&control, "legato", "0.1.0", &required);
        assert_eq!(
            problems,
            [
                "Depends does not name libayatana-appindicator3-1, libcairo2 (the app loads them at run time)"
            ]
        );
        // One of two alternatives is not a dependency.
        let problems = control_problems(CONTROL, "legato", "0.1.0", &set(&["libfoo1"]));
        assert_eq!(problems.len(), 1, "{problems:?}");
        // No Depends at all.
        let control = CONTROL
            .lines()
            .filter(|l| !l.starts_with("Depends"))
            .collect::<Vec<_>>()
            .join("\n");
        assert_eq!(
            control_problems(&control, "legato", "0.1.0", &set(&["libgtk-3-0"])).len(),
            1
        );
    }

    #[test]
    fn another_name_or_version_fails() {
        let problems = control_problems(CONTROL, "legato", "0.2.0", &set(&[]));
        assert_eq!(
            problems,
            ["Version is Some(\"0.1.0\"), expected the workspace's `0.2.0`"]
        );
        let problems = control_problems(CONTROL, "legato-app", "0.1.0", &set(&[]));
        assert_eq!(
            problems,
            ["Package is Some(\"legato\"), expected `legato-app`"]
        );
        let problems = control_problems("Description: x\n", "legato", "0.1.0", &set(&[]));
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn reads_dpkg_shlibdeps_output() {
        let out = "shlibs:Depends=libc6 (>= 2.34), libgtk-3-0 (>= 3.21.5), libssl3 (>= 3.0.0)\n";
        assert_eq!(
            shlibs_packages(out).unwrap(),
            ["libc6", "libgtk-3-0", "libssl3"]
        );
        assert!(shlibs_packages("misc:Depends=\n").is_err());
    }

    #[test]
    fn lists_the_files_the_package_lacks() {
        // As dpkg-deb prints it (Tauri's .deb has no `./`; other tools' do).
        let listing = "\
drwxr-xr-x 0/0               0 2026-12-07 15:00 usr/bin/
-rwxr-xr-x 0/0        20000000 2026-12-07 15:00 usr/bin/legato-app
-rw-r--r-- 0/0             194 2026-12-07 15:00 ./usr/share/applications/Legato.desktop
lrwxrwxrwx 0/0               0 2026-12-07 15:00 ./usr/share/doc/x -> y
";
        let wanted = [
            "usr/bin/legato-app",
            "usr/share/applications/Legato.desktop",
            "usr/share/doc/x",
            "usr/share/icons/hicolor/32x32/apps/legato-app.png",
        ];
        assert_eq!(
            missing_files(listing, &wanted),
            ["the package does not install usr/share/icons/hicolor/32x32/apps/legato-app.png"]
        );
        assert!(missing_files(listing, &wanted[..3]).is_empty());
    }
}
