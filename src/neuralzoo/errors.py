"""The exception type for bad user input, and the warnings a run raises about its own result.

The CLI prints a ``NeuralzooError`` as a single line (``neuralzoo: error: ...``) and exits with code
2. It subclasses ``ValueError`` so library users can catch it the way they catch any bad-argument
error. The warnings follow scikit-learn's ``ConvergenceWarning``: one class users can filter
(``warnings.simplefilter("ignore", neuralzoo.NeuralzooWarning)``), one subclass per kind of doubt.
"""


class NeuralzooError(ValueError):
    """Bad input (file, field, flag, model name): the message names what and why, on one line.

    ``details``: what would make the line long (every valid name, each mirror's network error); the
    CLI prints them under ``neuralzoo --verbose COMMAND ...`` (or ``NEURALZOO_DEBUG=1``)."""

    def __init__(self, message: str, *, details: str | None = None) -> None:
        super().__init__(message)
        self.details = details


class NeuralzooWarning(UserWarning):
    """Something about a run's result the user should know: the base class of neuralzoo's warnings."""


class ConvergenceWarning(NeuralzooWarning):
    """Training ended while the monitored validation metric was still clearly improving."""


class BaselineWarning(NeuralzooWarning):
    """The model did worse than the simple baseline a practitioner would try first."""


class CollapseWarning(NeuralzooWarning):
    """A latent model's code carries (almost) nothing about its input: posterior collapse, or a decoder
    whose output does not change with the code."""


class InputWarning(NeuralzooWarning):
    """An input was changed to fit the model (an image resized to the size the model was trained on)."""
