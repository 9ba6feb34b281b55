"""Request bodies in every content type the endpoint takes, built from digit arrays."""
import io
import json

import numpy as np
from PIL import Image


def json_body(images):
    return json.dumps(np.asarray(images).tolist())


def csv_body(images):
    flat = np.asarray(images).reshape(len(images), -1)
    return "\n".join(",".join(str(int(v)) for v in row) for row in flat) + "\n"


def jsonlines_body(images):
    return "".join(json.dumps(np.asarray(image).reshape(-1).tolist()) + "\n" for image in images)


def npy_body(array):
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def picture(digit, size=(90, 120), ink=(20, 30, 120), paper=(235, 225, 200), fmt="PNG", mode="RGB"):
    """A real MNIST digit drawn as a person would: dark ink on light paper, larger, in colour,
    off-centre, with margins. Returns the encoded image bytes."""
    width, height = size
    scale = min(width, height) * 0.6 / 28
    glyph = Image.fromarray(digit).resize((round(28 * scale), round(28 * scale)), Image.Resampling.BILINEAR)
    alpha = np.asarray(glyph, dtype=np.float32)[..., None] / 255.0
    canvas = np.empty((height, width, 3), dtype=np.float32)
    canvas[:] = paper
    top, left = height // 5, width // 6
    gh, gw = alpha.shape[:2]
    region = canvas[top:top + gh, left:left + gw]
    cover = alpha[:region.shape[0], :region.shape[1]]
    region[:] = region * (1 - cover) + np.asarray(ink) * cover
    image = Image.fromarray(canvas.round().astype(np.uint8), "RGB").convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, fmt, quality=90) if fmt == "JPEG" else image.save(buffer, fmt)
    return buffer.getvalue()


def png_claiming(width, height):
    """A tiny PNG file whose header claims width x height pixels (1 bit each): a decompression bomb."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def gzip_bomb(size, chunk=2**20):
    """A gzip body that decompresses to `size` zero bytes (1 GiB to about 1 MB), compressed a
    chunk at a time so that building it never holds `size` bytes."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(chunk)
    parts = [compressor.compress(zeros) for _ in range(size // chunk)]
    parts.append(compressor.compress(bytes(size % chunk)))
    return b"".join(parts) + compressor.flush()
