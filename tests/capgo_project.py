"""A throwaway Capacitor project in which the real `@capgo/cli` (pinned in tests/node) is run.

The CLI reads the project around it, so the directory has what it looks at:
- `capacitor.config.json`: `appId`, `webDir: "dist"` and `plugins.CapacitorUpdater` (`updateUrl`
  when given; `key create` adds `publicKey`);
- `package.json` whose `version` names the bundle `bundle zip` makes;
- `node_modules` linked to tests/node/node_modules, because `bundle zip` refuses to run without an
  installed `@capgo/capacitor-updater`, and `bundle encrypt`/`decrypt` pick the hex ("V3") checksum
  format only when that installed plugin is >= 5.30/6.30/7.30 (base64 otherwise);
- `dist/index.html` and `dist/app.js` calling `CapacitorUpdater.notifyAppReady()` (the zip code
  check greps the .js files of the web dir for it);
- `ios/App/App/Info.plist` and `android/app/build.gradle`, from which `probe` reads the native
  version it reports as `version_build`.
"""
from __future__ import annotations

import json as jsonlib
import os
import subprocess
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).parent / "node"
CLI = NODE_DIR / "node_modules" / "@capgo" / "cli" / "dist" / "index.js"

INFO_PLIST = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
\t<key>CFBundleShortVersionString</key>
\t<string>{version}</string>
\t<key>CFBundleVersion</key>
\t<string>{build}</string>
</dict>
</plist>
"""

BUILD_GRADLE = """android {{
    defaultConfig {{
        applicationId "{app_id}"
        versionCode {build}
        versionName "{version}"
    }}
}}
"""


class CapgoCliError(RuntimeError):
    def __init__(self, args: tuple[str, ...], result: subprocess.CompletedProcess):
        super().__init__(f"capgo {' '.join(args)} exited {result.returncode}\n"
                         f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        self.result = result


class CapgoProject:
    """A Capacitor project at `root` for app `app_id`, optionally pointing the updater at `update_url`."""

    def __init__(self, root: Path, app_id: str, update_url: str | None = None, *,
                 version: str = "1.0.0", native_version: str = "1.0.0", native_build: int = 1):
        self.root = Path(root)
        self.app_id = app_id
        self.dist = self.root / "dist"
        self.dist.mkdir(parents=True, exist_ok=True)
        updater: dict[str, Any] = {"updateUrl": update_url} if update_url else {}
        self.write_config({"appId": app_id, "appName": "otabox test app", "webDir": "dist",
                           "plugins": {"CapacitorUpdater": updater}})
        self.set_version(version)
        link = self.root / "node_modules"
        if not link.exists():
            link.symlink_to(NODE_DIR / "node_modules", target_is_directory=True)
        self.write_web_file("index.html", '<!doctype html><html><body><script src="app.js"></script></body></html>\n')
        self.write_web_file("app.js", "CapacitorUpdater.notifyAppReady();\n")
        plist = self.root / "ios" / "App" / "App" / "Info.plist"
        plist.parent.mkdir(parents=True, exist_ok=True)
        plist.write_text(INFO_PLIST.format(version=native_version, build=native_build))
        gradle = self.root / "android" / "app" / "build.gradle"
        gradle.parent.mkdir(parents=True, exist_ok=True)
        gradle.write_text(BUILD_GRADLE.format(app_id=app_id, version=native_version, build=native_build))

    @property
    def config_path(self) -> Path:
        return self.root / "capacitor.config.json"

    @property
    def config(self) -> dict:
        return jsonlib.loads(self.config_path.read_text())

    @property
    def updater_config(self) -> dict:
        """`plugins.CapacitorUpdater` of the current config."""
        return self.config["plugins"]["CapacitorUpdater"]

    def write_config(self, config: dict) -> None:
        self.config_path.write_text(jsonlib.dumps(config, indent=2) + "\n")

    def set_updater(self, **settings: Any) -> None:
        """Set keys of `plugins.CapacitorUpdater` (e.g. `statsUrl=…`); a value of None removes the key."""
        config = self.config
        updater = config["plugins"]["CapacitorUpdater"]
        for name, value in settings.items():
            if value is None:
                updater.pop(name, None)
            else:
                updater[name] = value
        self.write_config(config)

    def set_version(self, version: str) -> None:
        """The package.json version, which `bundle zip` uses as the bundle version."""
        package = {"name": "otabox-test-app", "version": version, "private": True,
                   "dependencies": {"@capacitor/core": "^7.0.0", "@capgo/capacitor-updater": "8.51.14"}}
        (self.root / "package.json").write_text(jsonlib.dumps(package, indent=2) + "\n")

    def write_web_file(self, relative: str, content: str | bytes) -> Path:
        path = self.dist / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def run(self, *args: str, json: bool = False, check: bool = True, timeout: float = 60):
        """Run `capgo <args>` here with no stdin (prompts end at once) and telemetry off.

        Returns the CompletedProcess, or with `json=True` the JSON object the command printed.
        Raises CapgoCliError on a non-zero exit when `check` is set.
        """
        env = {**os.environ, "CAPGO_DISABLE_TELEMETRY": "1", "NO_COLOR": "1"}
        result = subprocess.run(
            ["node", str(CLI), *args], cwd=self.root, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise CapgoCliError(args, result)
        if not json:
            return result
        try:
            return jsonlib.loads(result.stdout)
        except ValueError as error:
            raise CapgoCliError(args, result) from error
