"""Which form a channel's folder holds, told from its contents, unless the job's `data-format`
hyperparameter names one.

In order, the first that fits: MNIST's own files (IDX, mnist.npz, torchvision's .pt: read by
sagemaker_mnist.data), a Ground Truth manifest (its pictures may sit in folders of any name,
class folders too), class folders 0/ ... 9/, CSV files.
"""
from sagemaker_mnist.formats import AUTO, CSV, FOLDERS, MANIFEST, MNIST, csv_rows, folders, manifest

# The forms beside MNIST's own files, as failure lines list them.
OTHER_FORMS = ("a Ground Truth output manifest (.manifest) beside its pictures; class folders 0/ to 9/ "
               "of PNG or JPEG pictures; or CSV files of %s" % csv_rows.ACCEPTED)


def detect(channel_dir, files, data_format, is_mnist):
    """The form of the channel at `channel_dir` (its files: `files`): MNIST, MANIFEST, FOLDERS or CSV,
    or None when none fits. is_mnist(path) says whether a file is one of MNIST's own."""
    if data_format != AUTO:
        return data_format
    if any(is_mnist(path) for path in files):
        return MNIST
    if manifests(files):
        return MANIFEST
    if folders.class_folders(channel_dir):
        return FOLDERS
    if csv_files(files):
        return CSV
    return None


def manifests(files):
    return [path for path in files if manifest.is_manifest(path)]


def csv_files(files):
    return [path for path in files if path.lower().endswith(".csv")]
