//! `cargo xtask dist`: every release artifact of qoe-data-service in `target/dist/`, from a
//! clean checkout, on Linux:
//!
//! - `qoe-data-service-<version>-x64.msi` (wixl, from `deploy/windows/qoe-data-service.wxs`)
//! - `qoe-data-service-<version>-windows-x86_64.zip`
//! - `qoe-data-service_<version>_amd64.deb` (dpkg-deb, maintainer scripts in `deploy/debian/`)
//! - `qoe-data-service-<version>-linux-x86_64.tar.gz`
//! - `SHA256SUMS`
//!
//! The version is Cargo.toml's. Both binaries are release builds with `--locked`, the Windows
//! one for x86_64-pc-windows-gnu with mingw-w64 as CI builds it. `--linux-binary` and
//! `--windows-binary` package binaries built elsewhere instead (CI packages its debug build),
//! `--version` stamps another version (CI's upgrade tests need a lower one), `--out` writes
//! elsewhere.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The service's name, arguments and default account, word for word as `service install`
/// registers them.
#[path = "../../src/platform/service_identity.rs"]
mod service_identity;

use service_identity::{
    CONFIGURE_ARGUMENTS, DEFAULT_ACCOUNT, DISPLAY_NAME, EXAMPLE_SETTINGS_FILE, NAME, RUN_ARGUMENTS,
    SETTINGS_FILE,
};

const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";
const USAGE: &str = "usage: cargo xtask dist [--out DIR] [--version X.Y.Z] \
                     [--linux-binary PATH] [--windows-binary PATH]";
/// Where the MSI puts the settings (the Windows Installer's name for %ProgramData%\).
const MSI_SETTINGS: &str = "[CommonAppDataFolder]qoe-data-service\\qoe.toml";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

type Result<T> = std::result::Result<T, String>;

struct Options {
    out: PathBuf,
    version: Option<String>,
    linux_binary: Option<PathBuf>,
    windows_binary: Option<PathBuf>,
}

fn options(arguments: Vec<String>, root: &Path) -> Result<Options> {
    let mut arguments = arguments.into_iter();
    if arguments.next().as_deref() != Some("dist") {
        return Err(USAGE.into());
    }
    let mut options = Options {
        out: root.join("target").join("dist"),
        version: None,
        linux_binary: None,
        windows_binary: None,
    };
    while let Some(flag) = arguments.next() {
        let value = arguments
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--out" => options.out = PathBuf::from(value),
            "--version" => options.version = Some(value),
            "--linux-binary" => options.linux_binary = Some(PathBuf::from(value)),
            "--windows-binary" => options.windows_binary = Some(PathBuf::from(value)),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    // Tools run in staging folders: every path the user gave is made absolute first.
    let absolute =
        |path: PathBuf| std::path::absolute(&path).map_err(|e| format!("{}: {e}", path.display()));
    options.out = absolute(options.out)?;
    options.linux_binary = options.linux_binary.map(absolute).transpose()?;
    options.windows_binary = options.windows_binary.map(absolute).transpose()?;
    Ok(options)
}

fn run(arguments: Vec<String>) -> Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("no workspace root")?
        .to_path_buf();
    let options = options(arguments, &root)?;
    let package = Package::read(&root)?;
    let version = options.version.clone().unwrap_or(package.version.clone());
    numeric_version(&version)?;
    for tool in [
        "wixl",
        "dpkg-deb",
        "dpkg-shlibdeps",
        "tar",
        "zip",
        "sha256sum",
    ] {
        if !on_path(tool) {
            return Err(format!(
                "{tool} is missing: apt-get install wixl dpkg-dev tar zip coreutils"
            ));
        }
    }
    let linux = match &options.linux_binary {
        Some(path) => path.clone(),
        None => build(&root, None)?,
    };
    let windows = match &options.windows_binary {
        Some(path) => path.clone(),
        None => build(&root, Some(WINDOWS_TARGET))?,
    };
    if options.out.exists() {
        std::fs::remove_dir_all(&options.out)
            .map_err(|e| format!("clearing {}: {e}", options.out.display()))?;
    }
    let work = options.out.join(".work");
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let release = Release {
        root,
        out: options.out.clone(),
        work,
        version,
        description: package.description,
    };
    let artifacts = [
        release.msi(&windows)?,
        release.zip(&windows)?,
        release.deb(&linux)?,
        release.tarball(&linux)?,
    ];
    release.checksums(&artifacts)?;
    std::fs::remove_dir_all(&release.work).map_err(|e| e.to_string())?;
    for artifact in artifacts.iter().chain([&"SHA256SUMS".to_owned()]) {
        println!("{}", release.out.join(artifact).display());
    }
    Ok(())
}

/// What the release takes from Cargo.toml's `[package]`.
struct Package {
    version: String,
    description: String,
}

impl Package {
    /// Reads `version` and `description` of the root `[package]` (one `key = "…"` line each, as
    /// `cargo fmt`-style manifests write them).
    fn read(root: &Path) -> Result<Package> {
        let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
            .map_err(|e| format!("Cargo.toml: {e}"))?;
        let mut section = "";
        let mut version = None;
        let mut description = None;
        for line in manifest.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
                continue;
            }
            if section != "[package]" {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"').to_owned();
            match key.trim() {
                "version" => version = Some(value),
                "description" => description = Some(value),
                _ => {}
            }
        }
        Ok(Package {
            version: version.ok_or("Cargo.toml: no [package] version")?,
            description: description.ok_or("Cargo.toml: no [package] description")?,
        })
    }
}

/// The MSI's ProductVersion (and so its upgrades) compares three numbers: nothing else.
fn numeric_version(version: &str) -> Result<()> {
    let parts: Vec<&str> = version.split('.').collect();
    if parts.len() == 3 && parts.iter().all(|p| p.parse::<u16>().is_ok()) {
        Ok(())
    } else {
        Err(format!(
            "version {version}: give MAJOR.MINOR.PATCH, numbers only (the MSI compares them)"
        ))
    }
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// `cargo build --release --locked` of the service, for the host or for `target`.
fn build(root: &Path, target: Option<&str>) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bin", NAME]);
    if let Some(target) = target {
        command.args(["--target", target]);
    }
    run_tool(&mut command)?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(match target {
        Some(target) => target_dir
            .join(target)
            .join("release")
            .join(format!("{NAME}.exe")),
        None => target_dir.join("release").join(NAME),
    })
}

fn run_tool(command: &mut Command) -> Result<()> {
    let shown = format!("{command:?}");
    let status = command.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to).map_err(|e| format!("{} → {}: {e}", from.display(), to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", to.display()))
}

fn write(to: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(to, text).map_err(|e| format!("{}: {e}", to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", to.display()))
}

struct Release {
    root: PathBuf,
    out: PathBuf,
    work: PathBuf,
    version: String,
    description: String,
}

impl Release {
    fn source(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The files every archive carries beside the binary.
    fn documents(&self) -> [(PathBuf, &'static str); 4] {
        [
            (
                self.source("deploy/qoe.example.toml"),
                EXAMPLE_SETTINGS_FILE,
            ),
            (self.source("README.md"), "README.md"),
            (self.source("CHANGELOG.md"), "CHANGELOG.md"),
            (self.source("LICENSE"), "LICENSE"),
        ]
    }

    /// The MSI: the .wxs's variables are the service's identity as `service install` uses it.
    /// wixl takes file names relative to where it runs (not absolute ones), so the files are
    /// staged in one folder first.
    fn msi(&self, exe: &Path) -> Result<String> {
        let name = format!("{NAME}-{}-x64.msi", self.version);
        let staging = self.work.join("msi");
        copy(exe, &staging.join(format!("{NAME}.exe")), 0o755)?;
        for (from, to) in self.documents() {
            copy(&from, &staging.join(to), 0o644)?;
        }
        let config = format!("--config {MSI_SETTINGS}");
        let mut command = Command::new("wixl");
        command
            .current_dir(&staging)
            .args(["-a", "x64", "-o"])
            .arg(self.out.join(&name));
        for (key, value) in [
            ("Version", self.version.clone()),
            ("ServiceName", NAME.to_owned()),
            ("DisplayName", DISPLAY_NAME.to_owned()),
            ("Description", self.description.clone()),
            ("DefaultAccount", DEFAULT_ACCOUNT.to_owned()),
            ("Arguments", format!("{} {config}", RUN_ARGUMENTS.join(" "))),
            (
                "ConfigureArguments",
                format!(
                    "{} {config} --account \"[SERVICE_ACCOUNT]\" --listen \"[LISTEN_ADDRESS]\"",
                    CONFIGURE_ARGUMENTS.join(" ")
                ),
            ),
            ("Executable", format!("{NAME}.exe")),
            ("Example", EXAMPLE_SETTINGS_FILE.to_owned()),
            ("Readme", "README.md".to_owned()),
            ("Changelog", "CHANGELOG.md".to_owned()),
            ("License", "LICENSE".to_owned()),
        ] {
            command.arg("-D").arg(format!("{key}={value}"));
        }
        command.arg(self.source("deploy/windows/qoe-data-service.wxs"));
        run_tool(&mut command)?;
        Ok(name)
    }

    fn zip(&self, exe: &Path) -> Result<String> {
        let folder = format!("{NAME}-{}-windows-x86_64", self.version);
        let staging = self.work.join(&folder);
        copy(exe, &staging.join(format!("{NAME}.exe")), 0o755)?;
        for (from, to) in self.documents() {
            copy(&from, &staging.join(to), 0o644)?;
        }
        let name = format!("{folder}.zip");
        run_tool(
            Command::new("zip")
                .current_dir(&self.work)
                .args(["-q", "-r", "-X"])
                .arg(self.out.join(&name))
                .arg(&folder),
        )?;
        Ok(name)
    }

    fn tarball(&self, binary: &Path) -> Result<String> {
        let folder = format!("{NAME}-{}-linux-x86_64", self.version);
        let staging = self.work.join(&folder);
        copy(binary, &staging.join(NAME), 0o755)?;
        for (from, to) in self.documents() {
            copy(&from, &staging.join(to), 0o644)?;
        }
        copy(
            &self.source("deploy/qoe.env.example"),
            &staging.join("qoe.env.example"),
            0o644,
        )?;
        copy(
            &self.source("deploy/systemd/qoe-data-service.service"),
            &staging.join("qoe-data-service.service"),
            0o644,
        )?;
        let name = format!("{folder}.tar.gz");
        run_tool(
            Command::new("tar")
                .current_dir(&self.work)
                .args(["--owner=0", "--group=0", "--numeric-owner", "-czf"])
                .arg(self.out.join(&name))
                .arg(&folder),
        )?;
        Ok(name)
    }

    /// The .deb, built with dpkg-deb from a tree laid out here (no cargo-deb: building it costs
    /// CI minutes, and the control files are a page).
    fn deb(&self, binary: &Path) -> Result<String> {
        let tree = self.work.join("deb");
        let doc = tree.join("usr/share/doc").join(NAME);
        copy(binary, &tree.join("usr/bin").join(NAME), 0o755)?;
        run_tool(
            Command::new("strip")
                .arg("--strip-unneeded")
                .arg(tree.join("usr/bin").join(NAME)),
        )?;
        let unit = std::fs::read_to_string(self.source("deploy/systemd/qoe-data-service.service"))
            .map_err(|e| format!("the unit: {e}"))?;
        let unit = unit.replace(
            &format!("ExecStart=/usr/local/bin/{NAME} "),
            &format!("ExecStart=/usr/bin/{NAME} "),
        );
        if !unit.contains(&format!("ExecStart=/usr/bin/{NAME} ")) {
            return Err(
                "the unit's ExecStart no longer starts /usr/local/bin/qoe-data-service".into(),
            );
        }
        write(
            &tree
                .join("lib/systemd/system")
                .join(format!("{NAME}.service")),
            &unit,
            0o644,
        )?;
        let settings = tree.join("etc").join(NAME);
        copy(
            &self.source("deploy/qoe.example.toml"),
            &settings.join(SETTINGS_FILE),
            0o644,
        )?;
        write(&settings.join("qoe.env"), &self.environment_file()?, 0o600)?;
        write(&doc.join("copyright"), &self.copyright()?, 0o644)?;
        self.gzip(&self.debian_changelog(), &doc.join("changelog.gz"))?;
        copy(
            &self.source("deploy/debian/lintian-overrides"),
            &tree.join("usr/share/lintian/overrides").join(NAME),
            0o644,
        )?;
        let control = tree.join("DEBIAN");
        for script in ["postinst", "prerm", "postrm"] {
            copy(
                &self.source(&format!("deploy/debian/{script}")),
                &control.join(script),
                0o755,
            )?;
        }
        write(
            &control.join("conffiles"),
            &format!("/etc/{NAME}/{SETTINGS_FILE}\n/etc/{NAME}/qoe.env\n"),
            0o644,
        )?;
        let depends = self.shared_library_depends(&tree.join("usr/bin").join(NAME))?;
        write(
            &control.join("control"),
            &self.control(&tree, &depends)?,
            0o644,
        )?;
        let name = format!("{NAME}_{}_amd64.deb", self.version);
        run_tool(
            Command::new("dpkg-deb")
                .args(["--root-owner-group", "-Zxz", "--build"])
                .arg(&tree)
                .arg(self.out.join(&name)),
        )?;
        Ok(name)
    }

    /// The package's qoe.env: the example with its variables commented out, so that a fresh
    /// install configures nothing until the admin sets the connection string.
    fn environment_file(&self) -> Result<String> {
        let example = std::fs::read_to_string(self.source("deploy/qoe.env.example"))
            .map_err(|e| format!("qoe.env.example: {e}"))?;
        Ok(example
            .lines()
            .map(|line| {
                if line.starts_with("QOE_") {
                    format!("#{line}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect())
    }

    /// `shlibs:Depends` as dpkg-shlibdeps computes it for the binary (libc6, libgcc-s1).
    fn shared_library_depends(&self, binary: &Path) -> Result<String> {
        let scratch = self.work.join("shlibdeps");
        write(
            &scratch.join("debian/control"),
            &format!("Source: {NAME}\n\nPackage: {NAME}\nArchitecture: amd64\n"),
            0o644,
        )?;
        let output = Command::new("dpkg-shlibdeps")
            .current_dir(&scratch)
            .arg("-O")
            .arg(binary)
            .output()
            .map_err(|e| format!("dpkg-shlibdeps: {e}"))?;
        let text = String::from_utf8_lossy(&output.stdout);
        text.lines()
            .find_map(|line| line.strip_prefix("shlibs:Depends="))
            .map(str::to_owned)
            .ok_or_else(|| {
                format!(
                    "dpkg-shlibdeps gave no dependencies: {}",
                    String::from_utf8_lossy(&output.stderr)
                )
            })
    }

    fn control(&self, tree: &Path, depends: &str) -> Result<String> {
        let output = Command::new("du")
            .args(["-s", "-k", "--apparent-size"])
            .arg(tree)
            .output()
            .map_err(|e| format!("du: {e}"))?;
        let kib = String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .next()
            .unwrap_or("0")
            .to_owned();
        Ok(format!(
            "Package: {NAME}\n\
             Version: {version}\n\
             Architecture: amd64\n\
             Maintainer: {MAINTAINER}\n\
             Installed-Size: {kib}\n\
             Depends: {depends}\n\
             Section: net\n\
             Priority: optional\n\
             Description: {DISPLAY_NAME}: CQD Data API integration status over HTTP\n \
             Serves GET /QoEDataService/IntegrationLog/Status and the integration log\n \
             of an on-premises Skype for Business Call Quality Dashboard, read from\n \
             the QoE archive database on Microsoft SQL Server, with a status page\n \
             and Prometheus metrics.\n \
             .\n \
             Settings: /etc/qoe-data-service/qoe.toml\n \
             Secrets:  /etc/qoe-data-service/qoe.env\n",
            version = self.version,
        ))
    }

    fn copyright(&self) -> Result<String> {
        let license =
            std::fs::read_to_string(self.source("LICENSE")).map_err(|e| format!("LICENSE: {e}"))?;
        let holder = license
            .lines()
            .find_map(|line| line.strip_prefix("Copyright (c) "))
            .ok_or("LICENSE: no `Copyright (c) YEAR HOLDER` line")?;
        let mut text = format!(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
             Upstream-Name: {NAME}\n\n\
             Files: *\n\
             Copyright: {holder}\n\
             License: Expat\n"
        );
        for line in license.lines() {
            if line.trim().is_empty() {
                text.push_str(" .\n");
            } else {
                let _ = writeln!(text, " {line}");
            }
        }
        Ok(text)
    }

    /// Debian's changelog of this native package: one entry pointing at CHANGELOG.md's.
    fn debian_changelog(&self) -> String {
        let date = Command::new("date")
            .arg("-R")
            .env("LC_ALL", "C")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        format!(
            "{NAME} ({version}) stable; urgency=medium\n\n  \
             * Release {version}; what changed is in CHANGELOG.md of the release.\n\n \
             -- {MAINTAINER}  {date}\n",
            version = self.version
        )
    }

    fn gzip(&self, text: &str, to: &Path) -> Result<()> {
        let plain = self.work.join("changelog");
        write(&plain, text, 0o644)?;
        run_tool(Command::new("gzip").args(["-9", "-n", "-f"]).arg(&plain))?;
        copy(&self.work.join("changelog.gz"), to, 0o644)
    }

    fn checksums(&self, artifacts: &[String]) -> Result<()> {
        let output = Command::new("sha256sum")
            .current_dir(&self.out)
            .args(artifacts)
            .output()
            .map_err(|e| format!("sha256sum: {e}"))?;
        if !output.status.success() {
            return Err("sha256sum failed".into());
        }
        std::fs::write(self.out.join("SHA256SUMS"), output.stdout).map_err(|e| e.to_string())
    }
}

const MAINTAINER: &str = "QoE Data Service maintainers <qoe-data-service@example.org>";
