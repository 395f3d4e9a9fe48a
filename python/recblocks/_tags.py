"""Tags: the column tags by Merlin's names (Tags.CATEGORICAL, Tags.USER_ID, ...)."""

from recblocks._recblocks import Tag


class Tags:
    """Merlin's Tags: `Tags.CATEGORICAL`, `Tags.USER_ID`, ... (each a recblocks.Tag)."""

    # Written out one by one, not set in a loop, so that type checkers and IDEs see them.
    CATEGORICAL = Tag("categorical")
    CONTINUOUS = Tag("continuous")
    LIST = Tag("list")
    SEQUENCE = Tag("sequence")
    TEXT = Tag("text")
    TOKENIZED = Tag("tokenized")
    TIME = Tag("time")
    EMBEDDING = Tag("embedding")
    ID = Tag("id")
    USER = Tag("user")
    ITEM = Tag("item")
    SESSION = Tag("session")
    CONTEXT = Tag("context")
    TARGET = Tag("target")
    REGRESSION = Tag("regression")
    CLASSIFICATION = Tag("classification")
    BINARY = Tag("binary")
    MULTI_CLASS = Tag("multi_class")
    USER_ID = Tag("user_id")
    ITEM_ID = Tag("item_id")
    SESSION_ID = Tag("session_id")
    TEXT_TOKENIZED = Tag("text_tokenized")
    BINARY_CLASSIFICATION = Tag("binary_classification")
    MULTI_CLASS_CLASSIFICATION = Tag("multi_class_classification")
