"""Built-in tool rounds: a run's file_search and code_interpreter calls, executed by the engine
itself (function calls, by contrast, go back to the client as requires_action)."""
