"""The one exception type for bad user input.

The CLI prints it as a single line (``neuralzoo: error: ...``) and exits with code 2. It subclasses
``ValueError`` so library users can catch it the way they catch any bad-argument error.
"""


class NeuralzooError(ValueError):
    """Bad input (file, field, flag, model name): the message names what and why, on one line."""
