"""botocore for the otabox binary: only the data its S3 store reads (the S3 and STS service models,
endpoints, partitions, retry and default settings, the CA bundle). The other ~400 services' models
would be unpacked at every start of the one-file binary. This hook takes the place of the one in
pyinstaller-hooks-contrib, which collects them all."""
from PyInstaller.utils.hooks import collect_data_files

hiddenimports = ["html.parser"]
datas = collect_data_files("botocore", includes=["cacert.pem", "data/*.json", "data/s3/**/*", "data/sts/**/*"])
