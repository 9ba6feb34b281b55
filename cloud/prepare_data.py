"""Puts MNIST in S3 for training, tuning and batch transform.

    python -m cloud.prepare_data --bucket BUCKET [--prefix mnist-pytorch] [--data-dir DIR] [--images DIR]

Takes the four MNIST files from --data-dir (default: $MNIST_DIR, else the repository's own copy in
data/mnist), downloading from a public mirror only whichever are missing there (each checked
against its md5), and uploads:
    s3://BUCKET/PREFIX/data/training/   the two training files (the `training` channel)
    s3://BUCKET/PREFIX/data/test/       the two test files (the `test` channel)
    s3://BUCKET/PREFIX/data/transform/mnist-test.csv
                                        the 10,000 test digits, one per line (batch transform input)
and, with --images DIR (class folders 0/ ... 9/ of a user's PNG or JPEG pictures: cloud.manifest):
    s3://BUCKET/PREFIX/data/images/3/scan-001.png ...   every picture, under its class folder
    s3://BUCKET/PREFIX/data/images/output.manifest      a Ground Truth-style output manifest of them
The manifest beside its pictures is a training channel in File mode (the prefix), and the manifest
alone one in Pipe mode (an AugmentedManifestFile: python -m cloud.train --manifest).
"""
import pathlib
import sys

from cloud import common, manifest
from data import mnist_files

TRANSFORM_INPUT_NAME = "mnist-test.csv"


def transform_csv(data_dir):
    """The test digits as CSV bytes: one digit per line, 784 pixel values 0-255."""
    images, _ = mnist_files.test_split(data_dir)
    return "".join(mnist_files.csv_lines(images)).encode("ascii")


def upload(s3, data_dir, bucket, prefix, log=print):
    """Uploads the channels and the transform input; returns their S3 URIs."""
    data_dir = pathlib.Path(data_dir)
    uris = {}
    for channel, folder, names in (
        ("training", common.DATA_TRAINING, mnist_files.TRAIN_FILES),
        ("test", common.DATA_TEST, mnist_files.TEST_FILES),
    ):
        for name in names:
            bucket_, key = common.parse_s3_uri(common.s3_uri(bucket, prefix, folder, name))
            # One PutObject per file: the largest is 10 MB, far below the 5 GB limit of a
            # single upload, and the MD5 lets S3 reject a corrupted transfer.
            with open(data_dir / name, "rb") as f:
                s3.put_object(Bucket=bucket_, Key=key, Body=f, ContentMD5=_b64_md5(data_dir / name))
            log("uploaded s3://%s/%s" % (bucket_, key))
        uris[channel] = common.s3_uri(bucket, prefix, folder) + "/"
    body = transform_csv(data_dir)
    bucket_, key = common.parse_s3_uri(common.s3_uri(bucket, prefix, common.DATA_TRANSFORM, TRANSFORM_INPUT_NAME))
    s3.put_object(Bucket=bucket_, Key=key, Body=body, ContentType="text/csv")
    log("uploaded s3://%s/%s (%d digits)" % (bucket_, key, body.count(b"\n")))
    uris["transform"] = common.s3_uri(bucket, prefix, common.DATA_TRANSFORM) + "/"
    return uris


def upload_images(s3, images_dir, bucket, prefix, attribute=manifest.DEFAULT_LABEL_ATTRIBUTE, log=print):
    """Uploads every picture of the class folders and then their manifest (the pictures first: a
    manifest never names an object that is not there yet); returns the manifest's S3 URI."""
    images_dir = pathlib.Path(images_dir)
    found = manifest.pictures(images_dir)  # the whole folder is checked before anything is sent
    lines = []
    for relative, digit in found:
        uri = common.s3_uri(bucket, prefix, common.DATA_IMAGES, relative)
        bucket_, key = common.parse_s3_uri(uri)
        with open(images_dir / relative, "rb") as f:
            s3.put_object(Bucket=bucket_, Key=key, Body=f, ContentType=manifest.content_type(relative),
                          ContentMD5=_b64_md5(images_dir / relative))
        lines.append(manifest.line(uri, digit, attribute))
    uri = common.s3_uri(bucket, prefix, common.DATA_IMAGES, manifest.MANIFEST_NAME)
    bucket_, key = common.parse_s3_uri(uri)
    s3.put_object(Bucket=bucket_, Key=key, Body=("\n".join(lines) + "\n").encode("utf-8"),
                  ContentType="application/jsonlines")
    log("uploaded %d pictures of %s and their manifest %s" % (len(found), images_dir, uri))
    return uri


def _b64_md5(path):
    import base64

    return base64.b64encode(bytes.fromhex(mnist_files.md5(path))).decode("ascii")


def run(boto, args, log=print):
    data_dir = mnist_files.locate(args.data_dir, log=log)
    if args.images is not None:
        manifest.pictures(args.images)  # a folder that will not do fails before any upload
    s3 = boto.client("s3")
    uris = upload(s3, data_dir, args.bucket, args.prefix, log=log)
    extra = {}
    if args.images is not None:
        uris["manifest"] = upload_images(s3, args.images, args.bucket, args.prefix, args.label_attribute,
                                         log=log)
        uris["images"] = common.s3_uri(args.bucket, args.prefix, common.DATA_IMAGES) + "/"
        extra["label_attribute"] = args.label_attribute
    state = common.State(args.state)
    state.set(bucket=args.bucket, prefix=args.prefix, region=boto.region_name, data=uris,
              data_dir=str(pathlib.Path(data_dir).resolve()), **extra)
    return uris


def parse_args(argv=None):
    p = common.base_parser(__doc__.splitlines()[0])
    p.add_argument("--bucket", required=True, help="an S3 bucket your SageMaker execution role can read and write")
    p.add_argument("--prefix", default=common.DEFAULT_PREFIX, help="key prefix (default %(default)s)")
    p.add_argument("--data-dir", type=pathlib.Path,
                   help="folder with the MNIST .gz files; missing ones are downloaded into it "
                        "(default: $%s, else the repository's copy, %s)"
                        % (mnist_files.MNIST_DIR_VARIABLE, mnist_files.REPO_COPY))
    p.add_argument("--images", type=pathlib.Path,
                   help="also upload your own digits: a folder of class folders 0/ to 9/ of PNG or JPEG "
                        "pictures, with a Ground Truth-style manifest of them")
    p.add_argument("--label-attribute", default=manifest.DEFAULT_LABEL_ATTRIBUTE,
                   help="the manifest's label attribute (default %(default)s)")
    args = p.parse_args(argv)
    if args.label_attribute == "source-ref" or args.label_attribute.endswith("-metadata"):
        p.error("--label-attribute %s: source-ref and *-metadata are the picture and its bookkeeping, never "
                "the label; name it after the labels, e.g. digit" % args.label_attribute)
    return args


def main(argv=None):
    args = parse_args(argv)
    uris = run(common.boto_session(args), args)
    for channel, uri in uris.items():
        print("%-9s %s" % (channel, uri))
    return 0


if __name__ == "__main__":
    sys.exit(main())
