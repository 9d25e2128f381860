"""A program that stops after its definitions: it defines functions and runs none of them.

Small models close their program after the `def` (Qwen2.5-Coder-0.5B wrote `def fibonacci(n):
...` and ended the code string; asked again, it answered with the same function followed by
`print(fibonacci(20))`), and SmolLM2-135M's programs are often definitions only. Run as
written, such a program prints nothing and the model has no result to answer from. The decoder
asks the model to go on writing it (models.call_decoding), once."""

import ast


def unfinished(code: str) -> bool:
    """Whether `code` defines functions at its top level and its top-level code (outside the
    definitions) calls nothing: no function of its own, no print, no chart."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False  # not for the decoder to mend: the turn decides about unparsable code
    if not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in tree.body):
        return False
    body = [n for n in tree.body
            if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if body and body[-1] is tree.body[-1] and isinstance(body[-1], ast.Expr):
        return False  # Jupyter shows the last expression's value
    return not any(isinstance(node, ast.Call) for statement in body for node in ast.walk(statement))
