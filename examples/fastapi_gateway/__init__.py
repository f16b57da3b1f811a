"""An example AI gateway that embeds aigov around an LLM call; docs/embedding.md explains it."""

from fastapi_gateway.app import ChatRequest, ChatResponse, create_app, error_response
from fastapi_gateway.llm import LLM, Completion, EchoLLM, LLMError
from fastapi_gateway.main import DEMO_USER_ID, from_environment

__all__ = [
    "DEMO_USER_ID",
    "LLM",
    "ChatRequest",
    "ChatResponse",
    "Completion",
    "EchoLLM",
    "LLMError",
    "create_app",
    "error_response",
    "from_environment",
]
