"""Tiny pure-Python wheels and a package index of them on disk, so that a model's requirements.txt
installs (or fails to) with no network at all."""
import zipfile


def wheel(directory, name="digit_names", version="1.0"):
    """A minimal pure-Python wheel: module `name` with a NAMES list of the digits' names."""
    path = directory / ("%s-%s-py3-none-any.whl" % (name, version))
    info = "%s-%s.dist-info" % (name, version)
    files = {
        "%s.py" % name: 'NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]\n',
        "%s/METADATA" % info: "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name.replace("_", "-"), version),
        "%s/WHEEL" % info: "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for filename, text in files.items():
            archive.writestr(filename, text)
        archive.writestr("%s/RECORD" % info, "".join("%s,,\n" % f for f in [*files, "%s/RECORD" % info]))
    return path


def index(directory, name="digit_names", version="1.0"):
    """A package index on disk, PEP 503's layout (a folder per project with its index.html, which
    pip reads for a file:// index), holding one wheel; returns the folder, for
    PIP_INDEX_URL=file://FOLDER."""
    project = directory / name.replace("_", "-")
    project.mkdir(parents=True)
    built = wheel(project, name, version)
    (project / "index.html").write_text('<!DOCTYPE html>\n<html><body><a href="%s">%s</a></body></html>\n'
                                        % (built.name, built.name))
    return directory
