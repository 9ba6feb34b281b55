"""A folder of a user's digit pictures as SageMaker Ground Truth would have labelled them: one
output-manifest line per picture (JSON Lines: `source-ref`, the picture's S3 URI, and the label
attribute, the class index, which is the digit for categories listed 0 to 9), for
`python -m cloud.prepare_data --images DIR`.

The folder holds class folders 0/ ... 9/, each with PNG or JPEG pictures of that digit at any
depth below it (3/scanner-a/001.png), the form the training image reads as class folders too.
"""
import json
import os
import pathlib

PICTURE_SUFFIXES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}
MANIFEST_NAME = "output.manifest"  # the name Ground Truth gives a labeling job's output manifest
DEFAULT_LABEL_ATTRIBUTE = "digit"
# Ground Truth's metadata of an image classification label.
_LABEL_TYPE = "groundtruth/image-classification"


class FolderError(SystemExit):
    """The folder is not one of class folders of pictures: the message says what is wrong."""


def pictures(folder):
    """[(path relative to the folder, digit)] of every picture in its class folders, sorted."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise FolderError("--images %s is not a folder: give a folder of class folders 0/ to 9/ of PNG or JPEG "
                          "pictures" % folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and p.name in {str(d) for d in range(10)})
    if not classes:
        raise FolderError("--images %s has no class folders 0/ to 9/: put each digit's PNG or JPEG pictures in the "
                          "folder named after it" % folder)
    found = []
    for class_folder in classes:
        inside = []
        for root, dirs, names in os.walk(class_folder):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.startswith("."):
                    continue
                path = pathlib.Path(root) / name
                if path.suffix.lower() not in PICTURE_SUFFIXES:
                    raise FolderError("%s is not a PNG or JPEG picture (.png, .jpg, .jpeg): class folders hold "
                                      "only pictures of their digit" % path)
                inside.append((path.relative_to(folder).as_posix(), int(class_folder.name)))
        if not inside:
            raise FolderError("class folder %s holds no pictures: remove it or add PNG or JPEG pictures of "
                              "the digit %s" % (class_folder, class_folder.name))
        found += inside
    return found


def content_type(relative_path):
    return PICTURE_SUFFIXES[pathlib.PurePosixPath(relative_path).suffix.lower()]


def line(source_ref, digit, attribute=DEFAULT_LABEL_ATTRIBUTE):
    """One output-manifest line of an image classification label."""
    return json.dumps({
        "source-ref": source_ref,
        attribute: digit,
        attribute + "-metadata": {"class-name": str(digit), "human-annotated": "yes", "type": _LABEL_TYPE},
    })
