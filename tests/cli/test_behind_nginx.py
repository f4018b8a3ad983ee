"""deploy/nginx.conf, as shipped, in front of a live otabox: Debian's nginx runs the file with only
its names, ports and certificate paths replaced, and a client over HTTPS gets update checks with
public URLs, downloads, uploads, the address nginx saw (never one it forged) and the Host check."""
from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shutil
import subprocess
import time
import warnings

import pytest
import requests
from conftest import ROOT, LiveServer, free_port, make_zip

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (tests/install.sh installs it)")
APP = "com.example.nginx"
PUBLIC = "ota.example.com"


def self_signed(folder):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, PUBLIC)])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(PUBLIC)]), critical=False)
                   .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def site_config(otabox_port: int, https_port: int, http_port: int, cert, key) -> str:
    """deploy/nginx.conf with this machine's ports and certificate; every directive otherwise as shipped."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = [("server 127.0.0.1:8080;", f"server 127.0.0.1:{otabox_port};"),
                    ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
                    ("listen 80;", f"listen 127.0.0.1:{http_port};"),
                    (f"/etc/letsencrypt/live/{PUBLIC}/fullchain.pem", str(cert)),
                    (f"/etc/letsencrypt/live/{PUBLIC}/privkey.pem", str(key))]
    for old, new in replacements:
        assert old in text, f"deploy/nginx.conf no longer has {old!r}; update this test"
        text = text.replace(old, new)
    return text


@pytest.fixture
def behind_nginx(tmp_path):
    otabox = LiveServer(tmp_path / "data", env={"OTABOX_PUBLIC_URL": f"https://{PUBLIC}",
                                                "OTABOX_TRUSTED_PROXY": "127.0.0.1"})
    prefix = tmp_path / "nginx"
    (prefix / "logs").mkdir(parents=True)
    cert, key = self_signed(prefix)
    https_port, http_port = free_port(), free_port()
    (prefix / "otabox.conf").write_text(site_config(otabox.port, https_port, http_port, cert, key))
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp_paths = "".join(f"    {kind}_temp_path {prefix}/{kind};\n"
                         for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        f"daemon off;\n{user}pid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log warn;\n"
        f"events {{ worker_connections 128; }}\n"
        f"http {{\n    access_log off;\n{temp_paths}    include {prefix}/otabox.conf;\n}}\n")
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "logs" / "error.log")]
    tested = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stderr
    nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.time() + 10
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    session = requests.Session()
                    session.trust_env = False
                    session.get(f"{url}/healthz", verify=False, timeout=1, headers={"Host": PUBLIC})
                break
            except requests.ConnectionError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        yield otabox, url, http_port
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        otabox.stop()


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_client_over_https_through_the_shipped_nginx_config(behind_nginx):
    otabox, url, http_port = behind_nginx
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=False
    session.verify = False
    session.headers["Host"] = PUBLIC
    key = otabox.cli("keys", "create", "--name", "ci").stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    created = session.post(f"{url}/api/v1/apps", json={"slug": APP}, headers=auth).json()
    data = make_zip({"index.html": "x" * 1_000_000})
    bundle = session.post(f"{url}/api/v1/apps/{APP}/bundles", headers=auth, data={"version": "1.0.0"},
                          files={"file": ("b.zip", data)})
    assert bundle.status_code == 201, bundle.text
    session.post(f"{url}/api/v1/apps/{APP}/releases", headers=auth,
                 json={"bundleId": bundle.json()["id"], "channel": "production"})

    reply = session.get(f"{url}/api/v1/apps/{APP}/check", params={"deviceId": "phone", "platform": "ios"},
                        headers={"X-Client-Key": created["clientKey"], "X-Forwarded-For": "203.0.113.9"})
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    download_url = reply.json()["bundle"]["url"]
    assert download_url.startswith(f"https://{PUBLIC}/dl/")
    download = session.get(url + download_url[len(f"https://{PUBLIC}"):])
    assert download.status_code == 200 and download.content == data
    assert download.headers["Content-Disposition"].startswith("attachment")

    log = otabox.log_text()
    assert re.search(r' 127\.0\.0\.1 "GET /api/v1/apps/com\.example\.nginx/check" 200', log), log[-2000:]
    assert "203.0.113.9" not in log  # the address the client claimed is replaced by the one nginx saw
    foreign = session.get(f"{url}/api/v1/apps", headers={**auth, "Host": "attacker.example"})
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "invalid_host"
    plain = requests.get(f"http://127.0.0.1:{http_port}/healthz", headers={"Host": PUBLIC}, allow_redirects=False)
    assert plain.status_code == 301 and plain.headers["Location"].startswith(f"https://{PUBLIC}/")
