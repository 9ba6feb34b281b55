"""The MNIST endpoint's wire formats, split as sagemaker-inference splits its own (content_types,
decoder, encoder); import the module that does the job, this package re-exports nothing:

  content_types  the media types, what each holds (ACCEPTED_INPUTS), media_type, request_type (a
                 Content-Type read, or a 415), Accept negotiation
  content_encodings  gzip and deflate request bodies, decoded within the payload limit
  decoders       request bodies to float32 images N x 28 x 28 in [0, 1], or a 4xx that says why not
  encoders       N x 10 class probabilities to response bodies
  fast_paths     the byte-level readers of integer-only text that the decoders try first
"""
