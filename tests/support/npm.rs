//! An npm package for tests, installed once under the cargo target directory with
//! `npm install --prefix target/tmp/<name> <package>@<version>` (`made_once.rs`: a marker written
//! last, a file lock serialising test processes that start together).
//!
//! Nothing is skipped: without Node.js and npm, or without the npm registry, installing fails
//! with a message saying what to install. Included by `azurite.rs` beside it.
#![allow(dead_code)]

#[path = "made_once.rs"]
mod made_once;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub use made_once::run;

/// What an install holds.
pub struct Spec<'a> {
    /// Its directory's name under the target directory's tmp (`azurite-3.35.0`).
    pub name: &'a str,
    /// What `npm install` gets, pinned (`azurite@3.35.0`).
    pub package: &'a str,
    /// The oldest Node.js major version the package runs on.
    pub node_major: u32,
    /// Who needs it, for the messages ("the Azure Blob tests").
    pub needed_by: &'a str,
}

/// An install that exists.
pub struct Npm {
    pub dir: PathBuf,
    /// How long installing took in this process; `None` when it existed.
    pub installed_in: Option<Duration>,
}

const INSTALL_NODE: &str = "install Node.js with npm (Debian or Ubuntu: `apt-get install nodejs npm`)";

impl Npm {
    /// Finds the install `spec` describes, or makes it under the file lock.
    pub fn ensure(spec: &Spec<'_>) -> Result<Npm, String> {
        // Checked on every run, not only the first: the install is useless under an older node.
        node_major(spec)?;
        let marker = format!("{}\n", spec.package);
        let made = made_once::ensure(spec.name, &marker, "npm install", |dir| install(dir, spec))?;
        Ok(Npm {
            dir: made.dir,
            installed_in: made.installed_in,
        })
    }

    /// `node_modules/<package>/<rel>` in the install.
    pub fn module_file(&self, package: &str, rel: &str) -> PathBuf {
        self.dir.join("node_modules").join(package).join(rel)
    }
}

fn node_major(spec: &Spec<'_>) -> Result<u32, String> {
    let needed_by = spec.needed_by;
    let version = run(Command::new("node").arg("--version"))
        .map_err(|e| format!("{needed_by} need Node.js: `node --version` does not work ({e}); {INSTALL_NODE}"))?;
    let major = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| format!("`node --version` printed `{}`, not a version", version.trim()))?;
    if major < spec.node_major {
        return Err(format!(
            "{needed_by} need Node.js {} or newer for {}, found {}; {INSTALL_NODE}",
            spec.node_major,
            spec.package,
            version.trim()
        ));
    }
    Ok(major)
}

fn install(dir: &Path, spec: &Spec<'_>) -> Result<(), String> {
    run(Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix"])
        .arg(dir)
        .arg(spec.package))
    .map_err(|e| {
        format!(
            "`npm install --prefix {} {}` failed: {e}; {} need npm and access to the npm registry",
            dir.display(),
            spec.package,
            spec.needed_by
        )
    })?;
    Ok(())
}
