"""The dashboard stays in static/ at the top of the repository, where its files are edited; it ships
inside the package as `otabox/static`, so a wheel, an sdist, pipx or Docker all serve it.
Everything else is in setup.cfg."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["otabox", "otabox.*"]) + ["otabox.static"],
    package_dir={"otabox.static": "static"},
    package_data={"otabox.static": ["*", "**/*"]},
)
