"""The handler service in-process, driven as an MMS worker drives it (MMS's own Context and
RequestProcessor): every content type and accept on real test digits, every bad input, a model's
own code/inference.py, and the same artifact under sagemaker-inference's own transformer (what
AWS's PyTorch inference containers run)."""
import gzip
import io
import json
import sys
import textwrap
import zlib

import numpy as np
import pytest

from answers import decode_output
from sagemaker_mnist.codecs import content_types
from serving_fixtures import (InProcessService, clean_imports, csv_body, gzip_bomb, json_body,  # noqa: F401
                              jsonlines_body, npy_body, picture, png_claiming, trained_model)

pytestmark = pytest.mark.unit

SAMPLE = slice(0, 32)


@pytest.fixture(scope="module")
def service(trained_model):  # noqa: F811
    return InProcessService(trained_model.model_dir)


def _predicted(status, content_type, body):
    assert status == 200, body
    return decode_output(body, content_type)


@pytest.mark.parametrize("content_type, make_body", [
    ("application/json", json_body),
    ("application/json", lambda images: json.dumps({"instances": images.tolist()})),
    ("text/csv", csv_body),
    ("application/jsonlines", jsonlines_body),
    ("application/x-npy", npy_body),
])
@pytest.mark.parametrize("accept", [None, "*/*", *content_types.OUTPUT_TYPES])
def test_batches_are_predicted_as_the_model_predicts(service, trained_model, content_type, make_body, accept):  # noqa: F811
    images = trained_model.images[SAMPLE]
    status, kind, body = service.invoke(make_body(images), content_type, accept)
    assert kind == (accept if accept in content_types.OUTPUT_TYPES else "application/json")
    labels, probabilities = _predicted(status, kind, body)
    np.testing.assert_array_equal(labels, trained_model.predicted[SAMPLE])
    np.testing.assert_allclose(probabilities, trained_model.probabilities[SAMPLE], atol=1e-4)
    assert (labels == trained_model.labels[SAMPLE]).mean() > 0.8


@pytest.mark.parametrize("content_type, fmt", [("image/png", "PNG"), ("image/jpeg", "JPEG"),
                                               ("application/x-image", "PNG")])
def test_pictures_of_digits_are_recognised(service, trained_model, content_type, fmt):  # noqa: F811
    hits = 0
    chosen = trained_model.correct[:10]
    for index in chosen:
        body = picture(trained_model.images[index], size=(150, 110), ink=(60, 20, 90), paper=(245, 240, 230), fmt=fmt)
        labels, _ = _predicted(*service.invoke(body, content_type))
        hits += int(labels[0] == trained_model.labels[index])
    assert hits >= 9


def test_default_accept_comes_from_the_environment(trained_model, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "text/csv")
    service = InProcessService(trained_model.model_dir)
    status, kind, body = service.invoke(json_body(trained_model.images[:2]), "application/json")
    assert (status, kind) == (200, "text/csv")
    assert body.decode().count("\n") == 2


def test_an_artifact_without_code_is_served_by_the_built_in_handlers(trained_model, tmp_path):  # noqa: F811
    bare = trained_model.copy_to(tmp_path / "bare", with_code=False)
    service = InProcessService(bare)
    labels, _ = _predicted(*service.invoke(json_body(trained_model.images[SAMPLE]), "application/json"))
    np.testing.assert_array_equal(labels, trained_model.predicted[SAMPLE])


def _pickled_npy():
    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)
    return buffer.getvalue()


BAD_REQUESTS = [
    # (case, body, content type, accept, status)
    ("empty body", b"", "application/json", None, 400),
    ("bad JSON", b"[[1, 2,", "application/json", None, 400),
    ("wrong shape", json.dumps([[0] * 10] * 10), "application/json", None, 400),
    ("wrong dtype", json.dumps([["zero"] * 784]), "application/json", None, 400),
    ("NaN", "[" + ",".join(["NaN"] * 784) + "]", "application/json", None, 400),
    ("CSV short row", "1,2,3\n", "text/csv", None, 400),
    ("unsupported content type", b"<x/>", "application/xml", None, 415),
    ("unsupported accept", json.dumps([0] * 784), "application/json", "text/html", 406),
    ("corrupt image", b"\x89PNG\r\n\x1a\n garbage", "image/png", None, 400),
    ("decompression bomb", png_claiming(100000, 100000), "image/png", None, 400),
    ("pickled npy", _pickled_npy(), "application/x-npy", None, 400),
    ("npz instead of npy", b"PK\x03\x04" + bytes(60), "application/x-npy", None, 400),
    ("truncated JPEG", picture(np.eye(28, dtype=np.uint8) * 255, fmt="JPEG")[:200], "image/jpeg", None, 400),
]


@pytest.mark.parametrize("case, body, content_type, accept, status", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_requests_get_a_4xx_json_answer_and_the_next_request_is_served(
        service, trained_model, capfd, case, body, content_type, accept, status):  # noqa: F811
    got_status, kind, answer = service.invoke(body, content_type, accept)
    assert got_status == status
    assert kind == "application/json"
    document = json.loads(answer)
    assert document["message"] and document["accepted"] and document["error"]
    assert "this must never run" not in capfd.readouterr().out
    labels, _ = _predicted(*service.invoke(json_body(trained_model.images[:3]), "application/json"))
    np.testing.assert_array_equal(labels, trained_model.predicted[:3])


def test_a_payload_over_the_limit_is_413_with_the_limit_named(trained_model, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1")
    service = InProcessService(trained_model.model_dir)
    big = csv_body(np.repeat(trained_model.images[:1], 600, axis=0))
    assert len(big) > 2**20
    status, kind, answer = service.invoke(big, "text/csv")
    assert (status, kind) == (413, "application/json")
    assert "1 MB" in json.loads(answer)["message"]
    assert service.invoke(csv_body(trained_model.images[:300]), "text/csv")[0] == 200


# --- Content-Encoding, byte-order marks and Content-Types that are not media types, as a worker sees them

BOM = b"\xef\xbb\xbf"


def _encoded(body, header):
    body = body.encode() if isinstance(body, str) else body
    return {"gzip": gzip.compress, "deflate": zlib.compress, "gzip, identity": gzip.compress}[header](body)


READ_AS_SENT = [
    # (case, content type, body maker, Content-Encoding or None, whether a UTF-8 byte-order mark comes first)
    ("gzip JSON", "application/json", json_body, "gzip", False),
    ("gzip CSV", "text/csv", csv_body, "gzip", False),
    ("gzip JSON lines", "application/jsonlines", jsonlines_body, "gzip", False),
    ("gzip npy", "application/x-npy", npy_body, "gzip", False),
    ("gzip, identity CSV", "text/csv", csv_body, "gzip, identity", False),
    ("deflate JSON", "application/json", json_body, "deflate", False),
    ("gzip JSON, no content type", None, json_body, "gzip", False),
    ("CSV with a byte-order mark", "text/csv", csv_body, None, True),
    ("JSON with a byte-order mark", "application/json", json_body, None, True),
    ("JSON lines with a byte-order mark", "application/jsonlines", jsonlines_body, None, True),
    ("gzip CSV with a byte-order mark", "text/csv", csv_body, "gzip", True),
]


@pytest.mark.parametrize("case, content_type, make_body, encoding, bom", READ_AS_SENT,
                         ids=[c[0] for c in READ_AS_SENT])
def test_compressed_bodies_and_byte_order_marks_are_read_as_sent(  # noqa: F811
        service, trained_model, case, content_type, make_body, encoding, bom):  # noqa: F811
    body = make_body(trained_model.images[SAMPLE])
    body = (BOM if bom else b"") + (body.encode() if isinstance(body, str) else body)
    headers = {"Content-Encoding": encoding} if encoding else {}
    if encoding:
        body = _encoded(body, encoding)
    labels, probabilities = _predicted(*service.invoke(body, content_type, headers=headers))
    np.testing.assert_array_equal(labels, trained_model.predicted[SAMPLE])
    np.testing.assert_allclose(probabilities, trained_model.probabilities[SAMPLE], atol=1e-4)


def _truncated_gzip():
    return gzip.compress(json_body(np.zeros((28, 28), dtype=int)).encode())[:-30]


REFUSED = [
    # (case, body, content type, headers, status, words the message must contain)
    ("a Content-Type that is not a media type", json_body(np.zeros((28, 28), dtype=int)), ";;;===", {}, 415,
     "Content-Type ';;;===' is not a media type"),
    ("brotli", json_body(np.zeros((28, 28), dtype=int)), "application/json", {"Content-Encoding": "br"}, 415,
     "Content-Encoding 'br' is not supported"),
    ("gzip named, JSON sent", json_body(np.zeros((28, 28), dtype=int)), "application/json",
     {"Content-Encoding": "gzip"}, 400, "not valid gzip data"),
    ("gzip cut short", _truncated_gzip(), "application/json", {"Content-Encoding": "gzip"}, 400, "cut short"),
    ("a gzip bomb", gzip_bomb(64 * 2**20), "text/csv", {"Content-Encoding": "gzip"}, 413,
     "decompresses to more than this endpoint's limit of 1 MB"),
    ("gzip of a body over the limit", gzip.compress(b"0," * 2**20), "text/csv", {"Content-Encoding": "gzip"},
     413, "limit of 1 MB"),
]


@pytest.fixture(scope="module")
def small_limit_service(trained_model):  # noqa: F811
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("SAGEMAKER_MAX_PAYLOAD_IN_MB", "1")
    yield InProcessService(trained_model.model_dir)
    monkeypatch.undo()


@pytest.mark.parametrize("case, body, content_type, headers, status, words", REFUSED,
                         ids=[c[0] for c in REFUSED])
def test_encodings_and_content_types_the_endpoint_cannot_read_are_4xx_naming_them(
        small_limit_service, trained_model, case, body, content_type, headers, status, words):  # noqa: F811
    got, kind, answer = small_limit_service.invoke(body, content_type, headers=headers)
    assert (got, kind) == (status, "application/json")
    document = json.loads(answer)
    assert words in document["message"], document["message"]
    assert document["accepted"] and document["error"]
    after = small_limit_service.invoke(json_body(trained_model.images[:3]), "application/json")
    np.testing.assert_array_equal(_predicted(*after)[0], trained_model.predicted[:3])


def test_requests_handed_over_together_are_each_decoded_with_their_own_encoding(service, trained_model):  # noqa: F811
    images = trained_model.images
    answers = service.invoke_together([
        (gzip.compress(csv_body(images[:3]).encode()), "text/csv", None, {"Content-Encoding": "gzip"}),
        (json_body(images[3]), "application/json", None, {"Content-Encoding": "br"}),
        (BOM + csv_body(images[4:6]).encode(), "text/csv", None),
        (json_body(images[6]), ";;;===", None),
        (zlib.compress(json_body(images[7]).encode()), "application/json", None,
         {"Content-Encoding": "deflate"}),
    ])
    assert [status for status, _, _ in answers] == [200, 415, 200, 415, 200]
    predicted = [decode_output(body, kind)[0].tolist() for status, kind, body in answers if status == 200]
    assert predicted == [trained_model.predicted[:3].tolist(), trained_model.predicted[4:6].tolist(),
                         trained_model.predicted[7:8].tolist()]


def test_a_users_input_fn_gets_the_body_decompressed_and_without_a_byte_order_mark(
        trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        import numpy as np
        import torch

        def input_fn(request_body, request_content_type):
            assert isinstance(request_body, str) and request_body[0] != "\\ufeff", request_body[:10]
            rows = [[float(v) for v in line.split(",")] for line in request_body.splitlines()]
            return torch.tensor(rows).reshape(-1, 1, 28, 28) / 255
    """)
    service = InProcessService(model_dir)
    body = gzip.compress(BOM + csv_body(trained_model.images[:4]).encode())
    labels, _ = _predicted(*service.invoke(body, "text/csv", headers={"Content-Encoding": "gzip"}))
    np.testing.assert_array_equal(labels, trained_model.predicted[:4])


# --- A model's own code

def _with_code(trained_model, tmp_path, source, name="inference.py", extra=None):  # noqa: F811
    model_dir = trained_model.copy_to(tmp_path / "model")
    code = model_dir / "code"
    (code / name).write_text(textwrap.dedent(source))
    for filename, text in (extra or {}).items():
        (code / filename).write_text(textwrap.dedent(text))
    return model_dir


def test_the_trainers_code_inference_py_is_the_one_loaded(trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist.inference import input_fn, model_fn, predict_fn
        import json
        def output_fn(prediction, accept):
            return json.dumps({"digits": prediction.argmax(1).tolist()}), "application/json"
    """)
    service = InProcessService(model_dir)
    status, kind, body = service.invoke(json_body(trained_model.images[SAMPLE]), "application/json")
    assert status == 200
    assert json.loads(body)["digits"] == trained_model.predicted[SAMPLE].tolist()


def test_user_input_fn_gets_text_for_json_and_predict_fn_gets_the_context(trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        import json
        import numpy as np
        import torch
        from sagemaker_mnist.inference import predict_fn as default_predict

        def input_fn(request_body, request_content_type):
            assert isinstance(request_body, str), type(request_body)
            pixels = np.asarray(json.loads(request_body)["pixels"], dtype=np.float32) / 255
            return torch.from_numpy(pixels).reshape(-1, 1, 28, 28)

        def predict_fn(input_data, model, context):
            assert context.model_name == "model"
            return default_predict(input_data, model)
    """)
    service = InProcessService(model_dir)
    body = json.dumps({"pixels": trained_model.images[:4].tolist()})
    labels, _ = _predicted(*service.invoke(body, "application/json"))
    np.testing.assert_array_equal(labels, trained_model.predicted[:4])


def test_transform_fn_alone_replaces_decode_predict_encode(trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist import inference
        def transform_fn(model, request_body, content_type, accept):
            probabilities = inference.predict_fn(inference.input_fn(request_body, content_type), model)
            return "%d\\n" % probabilities.argmax(1)[0], "text/plain"
    """)
    service = InProcessService(model_dir)
    index = int(trained_model.correct[0])
    status, kind, body = service.invoke(npy_body(trained_model.images[index]), "application/x-npy")
    assert (status, kind, body) == (200, "text/plain", b"%d\n" % trained_model.labels[index])


ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"


def test_custom_attributes_reach_the_functions_that_ask_for_them_and_come_back(
        trained_model, tmp_path, clean_imports):  # noqa: F811
    # input_fn and output_fn ask for them (one by keyword-only, one positionally named); predict_fn
    # keeps the plain contract and its context; the answer carries what output_fn set.
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist import inference

        def input_fn(request_body, request_content_type, *, custom_attributes):
            scale = dict(part.split("=") for part in (custom_attributes.request or "scale=1").split(";"))["scale"]
            return inference.input_fn(request_body.encode(), request_content_type) * float(scale)

        def predict_fn(input_data, model, context):
            return inference.predict_fn(input_data, model)

        def output_fn(prediction, accept, custom_attributes):
            custom_attributes.response = "seen=%s;digits=%d" % (custom_attributes.request, len(prediction))
            return inference.output_fn(prediction, accept)
    """)
    service = InProcessService(model_dir)
    body = json_body(trained_model.images[:4])
    labels, _ = _predicted(*service.invoke(body, "application/json", headers={ATTRIBUTES: "scale=1"}))
    np.testing.assert_array_equal(labels, trained_model.predicted[:4])
    assert service.response_headers[0][ATTRIBUTES] == "seen=scale=1;digits=4"
    # The attribute changes what input_fn does: all pixels at 0 are one answer for every image.
    labels, _ = _predicted(*service.invoke(body, "application/json", headers={ATTRIBUTES: "scale=0"}))
    assert len(set(labels.tolist())) == 1
    # Without the header: None, and the answer says so.
    _predicted(*service.invoke(body, "application/json"))
    assert service.response_headers[0][ATTRIBUTES] == "seen=None;digits=4"


def test_transform_fn_gets_custom_attributes_and_functions_without_them_send_none(
        trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist import inference
        def transform_fn(model, request_body, content_type, accept, custom_attributes=None):
            probabilities = inference.predict_fn(inference.input_fn(request_body, content_type), model)
            custom_attributes.response = "model_version=2"
            return "%d" % probabilities.argmax(1)[0], "text/plain"
    """)
    service = InProcessService(model_dir)
    index = int(trained_model.correct[0])
    status, kind, body = service.invoke(npy_body(trained_model.images[index]), "application/x-npy",
                                        headers={ATTRIBUTES: "trace=abc"})
    assert (status, body) == (200, b"%d" % trained_model.labels[index])
    assert service.response_headers[0][ATTRIBUTES] == "model_version=2"
    # The built-in handlers take none and set none.
    builtin = InProcessService(trained_model.model_dir)
    _predicted(*builtin.invoke(json_body(trained_model.images[:2]), "application/json", headers={ATTRIBUTES: "a=b"}))
    assert ATTRIBUTES not in builtin.response_headers[0]


@pytest.mark.parametrize("value, words", [
    ("x" * 1025, "1025 characters; SageMaker returns at most 1024"),
    ("caf\u00e9", "visible US-ASCII"),
    ("line\nbreak", "visible US-ASCII"),
    (7, "must be a str, not int"),
])
def test_custom_attributes_sagemaker_would_refuse_are_a_500_naming_why(
        trained_model, tmp_path, clean_imports, value, words):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist.inference import model_fn, input_fn, predict_fn, output_fn as default_output
        def output_fn(prediction, accept, custom_attributes):
            custom_attributes.response = %r
            return default_output(prediction, accept)
    """ % (value,))
    service = InProcessService(model_dir)
    status, kind, body = service.invoke(json_body(trained_model.images[:1]), "application/json")
    assert status == 500 and words in json.loads(body)["message"]
    assert ATTRIBUTES not in service.response_headers[0]


def test_a_custom_attributes_header_longer_than_sagemaker_passes_is_a_400(trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist.inference import model_fn, input_fn, predict_fn, output_fn
        def transform_fn(model, request_body, content_type, accept, custom_attributes):
            raise AssertionError("never reached")
    """.replace("from sagemaker_mnist.inference import model_fn, input_fn, predict_fn, output_fn",
                "from sagemaker_mnist.inference import model_fn"))
    service = InProcessService(model_dir)
    status, kind, body = service.invoke(json_body(trained_model.images[:1]), "application/json",
                                        headers={ATTRIBUTES: "a" * 1025})
    assert status == 400 and "at most 1024" in json.loads(body)["message"]


def test_a_program_named_by_sagemaker_program_and_its_neighbours(trained_model, tmp_path, monkeypatch,
                                                                  clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from helpers import SCALE
        from sagemaker_mnist.inference import model_fn, input_fn, predict_fn
        def output_fn(prediction, accept):
            return b"%d" % round(prediction.sum() * SCALE), "text/plain"
    """, name="serve_digits.py", extra={"helpers.py": "SCALE = 100\n"})
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "serve_digits.py")
    service = InProcessService(model_dir)
    assert service.invoke(json_body(trained_model.images[:3]), "application/json")[2] == b"300"


def test_errors_raised_by_user_code_keep_their_status_or_are_500(trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_inference.errors import BaseInferenceToolkitError
        from sagemaker_mnist.inference import model_fn, input_fn, output_fn, predict_fn as default_predict
        def predict_fn(input_data, model):
            if len(input_data) == 2:
                raise BaseInferenceToolkitError(422, "two is not allowed", "Unprocessable Entity")
            if len(input_data) == 3:
                raise RuntimeError("three breaks the model")
            return default_predict(input_data, model)
    """)
    service = InProcessService(model_dir)
    status, kind, body = service.invoke(json_body(trained_model.images[:2]), "application/json")
    assert (status, kind, json.loads(body)["message"]) == (422, "application/json", "two is not allowed")
    status, kind, body = service.invoke(json_body(trained_model.images[:3]), "application/json")
    assert (status, kind) == (500, "application/json") and "three breaks" in json.loads(body)["message"]
    assert service.invoke(json_body(trained_model.images[:1]), "application/json")[0] == 200


@pytest.mark.parametrize("source, program, error", [
    ("def transform_fn(model, body, content_type, accept): pass\ndef input_fn(body, content_type): pass\n",
     "inference.py", "transform_fn"),
    ("def input_fn(body): pass\n", "inference.py", "input_fn must take"),
    ("", "missing.py", "SAGEMAKER_PROGRAM names missing.py"),
    ("import no_such_module_anywhere\n", "inference.py", "no_such_module_anywhere"),
])
def test_user_code_that_cannot_work_fails_the_load(trained_model, tmp_path, clean_imports, source, program, error):  # noqa: F811
    from sagemaker_mnist_container.user_code import load_functions

    model_dir = _with_code(trained_model, tmp_path, source)
    with pytest.raises(Exception) as caught:
        load_functions(str(model_dir), program, program_given=program != "inference.py")
    assert error in str(caught.value)


# --- The same artifact under sagemaker-inference's own transformer (AWS's PyTorch containers)

def test_the_artifact_runs_under_the_stock_toolkit(trained_model, monkeypatch, clean_imports):  # noqa: F811
    import sys

    from mms.context import Context, RequestProcessor
    from sagemaker_inference.transformer import Transformer

    # What those containers do: model_dir/code first on the path, code/inference.py as the module.
    sys.path.insert(0, str(trained_model.model_dir / "code"))
    sys.modules.pop("inference", None)
    monkeypatch.setenv("SAGEMAKER_PROGRAM", "inference.py")
    transformer = Transformer()
    context = Context("model", str(trained_model.model_dir), None, 1, None, "1.1.11")

    def invoke(body, content_type, accept="application/json"):
        context.request_processor = [RequestProcessor({"Content-Type": content_type, "Accept": accept})]
        (answer,) = transformer.transform([{"body": bytearray(body if isinstance(body, bytes) else body.encode())}],
                                          context)
        processor = context.request_processor[0]
        return processor.get_response_status_code(), answer

    status, answer = invoke(json_body(trained_model.images[SAMPLE]), "application/json")
    labels, _ = decode_output(answer, "application/json")
    assert status == 200
    np.testing.assert_array_equal(labels, trained_model.predicted[SAMPLE])
    assert invoke(b"[1, 2", "application/json")[0] == 400
    assert invoke(b"<x/>", "application/xml")[0] == 415
    assert invoke(json_body(trained_model.images[:1]), "application/json", "text/html")[0] == 406
    assert invoke(_pickled_npy(), "application/x-npy")[0] == 400


def _counting_forwards(service, monkeypatch):
    model = service.service._model
    calls = []
    forward = model.forward

    def counted(images):
        calls.append(len(images))
        return forward(images)

    monkeypatch.setattr(model, "forward", counted)
    return calls


def test_requests_handed_over_together_share_one_forward_pass_and_keep_their_own_answers(
        trained_model, monkeypatch):  # noqa: F811
    service = InProcessService(trained_model.model_dir)
    images, labels = trained_model.images, trained_model.labels
    requests = [
        (json_body(images[0]), "application/json", None),
        (b'{"instances": [1, 2', "application/json", None),  # bad JSON
        (csv_body(images[1:4]), "text/csv", "text/csv"),
        (npy_body(images[4:6]), "application/x-npy", "application/x-npy"),
        (json_body(images[6]), "application/json", "application/xml"),  # nothing it can answer in
        (b"", "text/csv", None),
        (jsonlines_body(images[7:9]), "application/jsonlines", "application/jsonlines"),
    ]
    alone = [service.invoke(*request) for request in requests]
    calls = _counting_forwards(service, monkeypatch)
    together = service.invoke_together(requests)
    # One pass over the images of the requests that decode (the 406 is known only at encoding).
    assert calls == [1 + 3 + 2 + 1 + 2]
    assert [status for status, _, _ in together] == [200, 400, 200, 200, 406, 400, 200]
    assert [kind for _, kind, _ in together] == [kind for _, kind, _ in alone]
    for (status, kind, body), (_, _, body_alone) in zip(together, alone):
        if status != 200:
            assert body == body_alone  # the same error, worded the same
            continue
        # The batched pass may round the last digit differently; the answers are the same.
        (labels_together, probabilities_together), (labels_alone, probabilities_alone) = \
            decode_output(body, kind), decode_output(body_alone, kind)
        np.testing.assert_array_equal(labels_together, labels_alone)
        np.testing.assert_allclose(probabilities_together, probabilities_alone, atol=1e-5)
    predicted = np.concatenate([decode_output(body, kind)[0]
                                for status, kind, body in together if status == 200])
    assert (predicted == labels[[0, 1, 2, 3, 4, 5, 7, 8]]).mean() >= 0.85


def test_a_big_request_goes_through_the_net_alone(trained_model, monkeypatch):  # noqa: F811
    from sagemaker_mnist_container import together

    service = InProcessService(trained_model.model_dir)
    monkeypatch.setattr(together, "MAX_TOGETHER", 4)
    calls = _counting_forwards(service, monkeypatch)
    images = trained_model.images
    answers = service.invoke_together([(json_body(images[0]), "application/json", None),
                                       (csv_body(images[:10]), "text/csv", None),
                                       (json_body(images[1:3]), "application/json", None),
                                       (json_body(images[3]), "application/json", None)])
    assert [status for status, _, _ in answers] == [200] * 4
    assert calls == [1, 10, 3]


def test_a_models_own_functions_take_the_requests_one_at_a_time(trained_model, tmp_path, clean_imports):  # noqa: F811
    model_dir = _with_code(trained_model, tmp_path, """
        from sagemaker_mnist import inference

        SEEN = []

        def predict_fn(data, model):
            SEEN.append(len(data))
            return inference.predict_fn(data, model)
    """)
    service = InProcessService(model_dir)
    images = trained_model.images
    answers = service.invoke_together([(json_body(images[0]), "application/json", None),
                                       (json_body(images[1:3]), "application/json", None)])
    assert [status for status, _, _ in answers] == [200, 200]
    assert sys.modules["inference"].SEEN == [1, 2]


def test_an_artifact_made_before_the_rename_serves_with_its_own_copy(trained_model, tmp_path, clean_imports):  # noqa: F811
    # Artifacts written before the package was renamed carry code/mnist/ and an inference.py that
    # imports mnist.inference: that copy is a user's code now, and still answers as it did.
    import re

    model_dir = trained_model.copy_to(tmp_path / "model")
    code = model_dir / "code"
    (code / "sagemaker_mnist").rename(code / "mnist")
    for path in [code / "inference.py", *(code / "mnist").rglob("*.py")]:
        path.write_text(re.sub(r"\bsagemaker_mnist\b", "mnist", path.read_text()))
    service = InProcessService(model_dir)
    labels, _ = _predicted(*service.invoke(json_body(trained_model.images[SAMPLE]), "application/json"))
    np.testing.assert_array_equal(labels, trained_model.predicted[SAMPLE])
    assert sys.modules["mnist.inference"].__file__ == str(code / "mnist" / "inference.py")
