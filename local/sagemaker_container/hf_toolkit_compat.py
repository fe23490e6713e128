"""The Hugging Face DLC's handler service, importable beside transformers 5.

multi-model-server loads this module as the handler (``default_service_handler``) in place of
``sagemaker_huggingface_inference_toolkit.handler_service``. It is that class, unchanged: MMS
instantiates the one class a handler module defines, so the subclass adds nothing.

Why it exists: the toolkit on PyPI (2.6.0) imports ``is_tf_available`` from
``transformers.file_utils``, which transformers 5 removed with TensorFlow support. The DLC images
that ship transformers 5 carry a toolkit built for it; locally we run the PyPI release with this
one attribute restored (TensorFlow is never available here). tests/unit/models/test_toolkit_compat.py
fails once the toolkit no longer needs it.
"""
import transformers.file_utils as _file_utils

if not hasattr(_file_utils, "is_tf_available"):
    _file_utils.is_tf_available = lambda: False

from sagemaker_huggingface_inference_toolkit import handler_service as _toolkit  # noqa: E402


class HuggingFaceHandlerService(_toolkit.HuggingFaceHandlerService):
    """``sagemaker_huggingface_inference_toolkit.handler_service.HuggingFaceHandlerService``."""
