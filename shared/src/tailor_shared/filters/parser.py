"""Lexer and recursive-descent parser for filter expressions (CreateFilter's ``filterExpression``).

The grammar (decisions in ``docs/adr/0005-filter-language.md``)::

    filter      := expression ( "|" expression )*
    expression  := ("INCLUDE"|"EXCLUDE") ("ItemID"|"ActionID"|"UserID") "WHERE" or_chain [ if_clause ]
    or_chain    := and_chain ( "OR" and_chain )*            -- AND binds tighter than OR
    and_chain   := condition ( "AND" condition )*
    if_clause   := "IF" user_cond ( "AND" user_cond )*       -- once, at the end, AND only (L15340)
    condition   := Dataset "." FIELD ( membership | comparison )
    user_cond   := "CurrentUser" "." FIELD ( membership | comparison )
    membership  := ("IN" | "NOT" "IN") ( "(" STRING|"*" ("," STRING|"*")* ")" | ["("] $PARAM [")"]
                                        | ["("] CurrentItem.FIELD [")"] )
    comparison  := ("="|"!="|"<"|"<="|">"|">=") ( NUMBER | STRING | ["("] $PARAM [")"] | CurrentItem.FIELD )

Every rejection is an ``InvalidInputException`` naming the offending token and its 1-based position, because
CreateFilter is where users learn the language and Personalize's own messages there are terse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from tailor_shared.errors import InvalidInputException
from tailor_shared.filters.model import (
    EVENT_TYPE_FIELD,
    MAX_DISTINCT_FIELDS_PER_FILTER,
    MAX_EXPRESSION_LENGTH,
    MAX_PARAMETER_NAME_LENGTH,
    MAX_PARAMETERS_PER_FILTER,
    MIN_EXPRESSION_LENGTH,
    RESTRICTED_ACTION_FIELDS,
    WHERE_DATASETS,
    WILDCARD,
    Action,
    And,
    Condition,
    CurrentItemRef,
    Dataset,
    Expression,
    FieldRef,
    FilterExpression,
    Node,
    Operator,
    Or,
    Parameter,
    Scalar,
    StringSet,
    Subject,
    Value,
    parse_number,
)

_PREFIX = "Invalid filter expression: "


class _Kind(Enum):
    IDENT = "identifier"
    STRING = "string"
    NUMBER = "number"
    PARAM = "parameter"
    STAR = "*"
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    DOT = "."
    PIPE = "|"
    OP = "operator"
    EOF = "end"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    text: str  # as written (strings with their quotes)
    value: str  # identifier text, unescaped string content, parameter name, operator, number text
    position: int  # 1-based


def _fail(message: str, position: int | None = None, hint: str = "") -> InvalidInputException:
    """``Invalid filter expression: <what> at position <n>[; <hint>]`` (positions are 1-based)."""
    where = f" at position {position}" if position is not None else ""
    tail = f"; {hint}" if hint else ""
    return InvalidInputException(f"{_PREFIX}{message}{where}{tail}")


def _describe(token: _Token) -> str:
    return "the end of the expression" if token.kind is _Kind.EOF else f'"{token.text}"'


# --- lexer --------------------------------------------------------------------------------------------

_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER_RE = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PARAM_NAME_RE = re.compile(r"[A-Za-z0-9_]+")
_QUOTED_PARAM_RE = re.compile(r"\$([A-Za-z0-9_]+)")
_PUNCT = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA, ".": _Kind.DOT, "|": _Kind.PIPE}
_SMART_QUOTES = "\u201c\u201d\u2018\u2019\u00ab\u00bb"


def _lex(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        pos = i + 1
        if ch.isspace():
            i += 1
        elif ch in _PUNCT and not (ch == "." and text[i + 1 : i + 2].isdigit() and _after_operator(tokens)):
            tokens.append(_Token(_PUNCT[ch], ch, ch, pos))
            i += 1
        elif ch == "*":
            tokens.append(_Token(_Kind.STAR, ch, WILDCARD, pos))
            i += 1
        elif ch == '"':
            i = _lex_string(text, i, tokens)
        elif ch == "$":
            m = _PARAM_NAME_RE.match(text, i + 1)
            if m is None:
                raise _fail('expected a parameter name (letters, digits, "_") after "$"', pos)
            _check_parameter_name(m.group(), pos)
            tokens.append(_Token(_Kind.PARAM, text[i : m.end()], m.group(), pos))
            i = m.end()
        elif ch in "<>!=":
            two = text[i : i + 2]
            if two in ("<=", ">=", "!="):
                tokens.append(_Token(_Kind.OP, two, two, pos))
                i += 2
            elif ch == "!":
                raise _fail('unexpected character "!"', pos, 'did you mean "!="?')
            else:
                tokens.append(_Token(_Kind.OP, ch, ch, pos))
                i += 1
        elif (m := _NUMBER_RE.match(text, i)) is not None:
            tokens.append(_Token(_Kind.NUMBER, m.group(), m.group(), pos))
            i = m.end()
        elif (m := _IDENT_RE.match(text, i)) is not None:
            tokens.append(_Token(_Kind.IDENT, m.group(), m.group(), pos))
            i = m.end()
        elif ch == "'":
            raise _fail("unexpected single quote", pos, 'string values go in double quotes (")')
        elif ch in _SMART_QUOTES:
            raise _fail(f'unexpected character "{ch}"', pos, 'string values go in straight double quotes (")')
        else:
            raise _fail(f'unexpected character "{ch}"', pos)
    tokens.append(_Token(_Kind.EOF, "", "", n + 1))
    return tokens


def _after_operator(tokens: list[_Token]) -> bool:
    """A "." right after an operator or "(" starts a number (``> .5``), elsewhere it separates a field."""
    return bool(tokens) and tokens[-1].kind in (_Kind.OP, _Kind.LPAREN)


def _lex_string(text: str, start: int, tokens: list[_Token]) -> int:
    """Scan a double-quoted literal; ``\\"`` and ``\\\\`` are escapes. Returns the index after it."""
    chars: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            chars.append(text[i + 1])
            i += 2
        elif ch == '"':
            content = "".join(chars)
            raw = text[start : i + 1]
            quoted_param = _QUOTED_PARAM_RE.fullmatch(content)
            if quoted_param is not None:
                # The guide's CLI example writes IN (\"$CATEGORY\") (L15761): read it as the parameter.
                _check_parameter_name(quoted_param.group(1), start + 1)
                tokens.append(_Token(_Kind.PARAM, raw, quoted_param.group(1), start + 1))
            else:
                tokens.append(_Token(_Kind.STRING, raw, content, start + 1))
            return i + 1
        else:
            chars.append(ch)
            i += 1
    raise _fail("unterminated string starting", start + 1, 'add the closing double quote (")')


def _check_parameter_name(name: str, position: int) -> None:
    if len(name) > MAX_PARAMETER_NAME_LENGTH:
        raise _fail(f'parameter name "${name}" is longer than {MAX_PARAMETER_NAME_LENGTH} characters', position)


# --- parser -------------------------------------------------------------------------------------------

_DATASET_NAMES: dict[str, Dataset] = {d.value.upper(): d for d in Dataset}
# The guide's action example writes "Action.MEMBERSHIP_LEVEL" (L15529): accepted as Actions.
_DATASET_NAMES["ACTION"] = Dataset.ACTIONS
_SUBJECTS: dict[str, Subject] = {s.value.upper(): s for s in Subject}
_COMPARISONS: dict[str, Operator] = {op.value: op for op in Operator if not op.is_membership}
_KEYWORDS = frozenset({"INCLUDE", "EXCLUDE", "WHERE", "AND", "OR", "IF", "IN", "NOT"} | set(_SUBJECTS))
_DATASET_LIST = ", ".join(d.value for d in Dataset)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.index = 0

    # -- token helpers

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    @property
    def previous(self) -> _Token | None:
        return self.tokens[self.index - 1] if self.index > 0 else None

    def advance(self) -> _Token:
        token = self.token
        if token.kind is not _Kind.EOF:
            self.index += 1
        return token

    def at(self, kind: _Kind) -> bool:
        return self.token.kind is kind

    def is_keyword(self, word: str) -> bool:
        return self.at(_Kind.IDENT) and self.token.value.upper() == word

    def expected(self, what: str) -> InvalidInputException:
        prev = self.previous
        after = f' after "{prev.text}"' if prev is not None else ""
        return _fail(f"expected {what}{after}, found {_describe(self.token)}", self.token.position)

    def expect(self, kind: _Kind, what: str) -> _Token:
        if self.token.kind is not kind:
            raise self.expected(what)
        return self.advance()

    def expect_keyword(self, word: str) -> _Token:
        if not self.is_keyword(word):
            raise self.expected(f'"{word}"')
        return self.advance()

    # -- grammar

    def filter(self) -> list[Expression]:
        expressions = [self.expression()]
        while self.at(_Kind.PIPE):
            self.advance()
            expressions.append(self.expression())
        if not self.at(_Kind.EOF):
            raise self.expected('"|" or the end of the expression')
        return expressions

    def expression(self) -> Expression:
        if not (self.is_keyword("INCLUDE") or self.is_keyword("EXCLUDE")):
            raise self.expected('"INCLUDE" or "EXCLUDE"')
        action_token = self.advance()
        action = Action(action_token.value.upper())
        if not self.at(_Kind.IDENT) or self.token.value.upper() not in _SUBJECTS:
            raise self.expected('"ItemID", "ActionID" or "UserID"')
        subject = _SUBJECTS[self.advance().value.upper()]
        self.expect_keyword("WHERE")
        where, dataset = self.where_clause(subject)
        if_condition: Node | None = None
        if self.is_keyword("IF"):
            if_token = self.advance()
            if subject is Subject.USER_ID:
                raise _fail(
                    "IF is not allowed in a UserID (user segment) filter",
                    if_token.position,
                    "IF conditions check the CurrentUser, and a user segment has no current user",
                )
            if_condition = self.if_clause(subject)
        if self.is_keyword("IF"):
            raise _fail("a second IF", self.token.position, "an expression can have only one IF, at its end")
        if self.token.kind not in (_Kind.PIPE, _Kind.EOF):
            raise self.expected('AND, OR, IF, "|" or the end of the expression')
        return Expression(action, subject, dataset, where, if_condition, action_token.position)

    def where_clause(self, subject: Subject) -> tuple[Node, Dataset]:
        first = self.where_condition(subject, None)
        dataset = first.field.dataset
        terms: list[Node] = [self.and_chain(subject, dataset, first)]
        while self.is_keyword("OR"):
            self.advance()
            terms.append(self.and_chain(subject, dataset, self.where_condition(subject, dataset)))
        return (terms[0] if len(terms) == 1 else Or(tuple(terms))), dataset

    def and_chain(self, subject: Subject, dataset: Dataset, first: Condition) -> Node:
        conditions: list[Node] = [first]
        while self.is_keyword("AND"):
            self.advance()
            conditions.append(self.where_condition(subject, dataset))
        return conditions[0] if len(conditions) == 1 else And(tuple(conditions))

    def if_clause(self, subject: Subject) -> Node:
        conditions: list[Node] = [self.user_condition(subject)]
        while self.is_keyword("AND"):
            self.advance()
            conditions.append(self.user_condition(subject))
        if self.is_keyword("OR"):
            raise _fail('"OR" in an IF condition', self.token.position, "an IF condition can be extended only with AND")
        return conditions[0] if len(conditions) == 1 else And(tuple(conditions))

    def where_condition(self, subject: Subject, dataset: Dataset | None) -> Condition:
        token = self.token
        if token.kind is not _Kind.IDENT:
            raise self.expected("a dataset field such as Items.GENRES")
        word = token.value.upper()
        if word in _KEYWORDS:
            raise self.expected("a dataset field such as Items.GENRES")
        if word == "CURRENTUSER":
            raise _fail(
                "CurrentUser in a WHERE condition",
                token.position,
                "CurrentUser can be used only in an IF condition at the end of an expression, "
                "e.g. IF CurrentUser.AGE > 18",
            )
        if word == "CURRENTITEM":
            raise _fail(
                "CurrentItem before the operator",
                token.position,
                "CurrentItem can be used only as the value an Items field is compared with, "
                "e.g. Items.GENRE IN CurrentItem.GENRE",
            )
        if word not in _DATASET_NAMES:
            raise _fail(f'unknown dataset "{token.text}"', token.position, f"expected one of {_DATASET_LIST}")
        found = _DATASET_NAMES[word]
        allowed = WHERE_DATASETS[subject]
        if found not in allowed:
            if found is Dataset.USERS:
                raise _fail(
                    f"the Users dataset can't be used in the WHERE clause of an {subject.value} filter",
                    token.position,
                    "check the current user with IF CurrentUser.<field> at the end of the expression",
                )
            raise _fail(
                f"the {found.value} dataset can't be used when filtering by {subject.value}",
                token.position,
                f"{subject.value} filters use {' and '.join(d.value for d in allowed)}",
            )
        if dataset is not None and found is not dataset:
            raise _fail(
                f"a condition on the {found.value} dataset chained to conditions on {dataset.value}",
                token.position,
                "conditions chained with AND/OR must use the dataset of the first condition; "
                'combine datasets by chaining expressions with "|"',
            )
        self.advance()
        name_token = self.field_name()
        name = name_token.value.upper()
        if found.is_interactions and name != EVENT_TYPE_FIELD:
            raise _fail(
                f'field "{name_token.text}" of {found.value}',
                name_token.position,
                f"{found.value} can be filtered only by {EVENT_TYPE_FIELD}",
            )
        if found is Dataset.ACTIONS and name in RESTRICTED_ACTION_FIELDS:
            raise _fail(
                f"Actions.{name} can't be used in a filter",
                name_token.position,
                "Personalize applies action expiration and repeat frequency automatically",
            )
        ref = FieldRef(found, name)
        return self.predicate(ref, token.position, subject, in_if=False)

    def user_condition(self, subject: Subject) -> Condition:
        token = self.token
        if not self.is_keyword("CURRENTUSER"):
            raise self.expected('"CurrentUser.<field>" (an IF condition checks only the CurrentUser)')
        self.advance()
        name_token = self.field_name()
        ref = FieldRef(Dataset.USERS, name_token.value.upper())
        return self.predicate(ref, token.position, subject, in_if=True)

    def field_name(self) -> _Token:
        self.expect(_Kind.DOT, '"." and a field name')
        after = self.tokens[self.index + 1] if self.index + 1 < len(self.tokens) else self.token
        operator_follows = after.kind is _Kind.OP or (
            after.kind is _Kind.IDENT and after.value.upper() in ("IN", "NOT")
        )
        if self.at(_Kind.IDENT) and self.token.value.upper() in _KEYWORDS and not operator_follows:
            # "Items. IN (...)": the keyword is the operator and the field name is missing.
            raise self.expected("a field name")
        return self.expect(_Kind.IDENT, "a field name")

    def predicate(self, ref: FieldRef, position: int, subject: Subject, *, in_if: bool) -> Condition:
        op_token = self.token
        if self.is_keyword("IN"):
            self.advance()
            operator = Operator.IN
        elif self.is_keyword("NOT"):
            self.advance()
            self.expect_keyword("IN")
            operator = Operator.NOT_IN
        elif op_token.kind is _Kind.OP:
            self.advance()
            operator = _COMPARISONS[op_token.value]
        else:
            raise self.expected("an operator (IN, NOT IN, =, !=, <, <=, >, >=)")
        value_token = self.token
        value = self.membership_value(ref) if operator.is_membership else self.comparison_value(operator)
        self.check_value(ref, operator, value, value_token, subject, in_if=in_if)
        return Condition(ref, operator, value, position)

    def membership_value(self, ref: FieldRef) -> Value:
        if self.at(_Kind.PARAM):
            return Parameter(self.advance().value)
        if self.is_keyword("CURRENTITEM"):
            return self.current_item()
        open_token = self.expect(_Kind.LPAREN, 'a value list such as ("a", "b"), a $PARAMETER or CurrentItem')
        if self.at(_Kind.RPAREN):
            raise _fail(
                'expected a value after "(", found ")"', self.token.position, "an IN list needs at least one value"
            )
        value: Value
        if self.at(_Kind.PARAM):
            value = Parameter(self.advance().value)
            if self.at(_Kind.COMMA):
                raise _fail(
                    'expected ")" after a parameter, found ","',
                    self.token.position,
                    "a parameter must be the only value in its list",
                )
        elif self.is_keyword("CURRENTITEM"):
            value = self.current_item()
        else:
            value = self.string_list()
            self.close_paren(open_token, '"," or ")"')
            return value
        self.close_paren(open_token)
        return value

    def string_list(self) -> StringSet:
        values: list[str] = []
        wildcard = False
        while True:
            token = self.token
            if token.kind is _Kind.STRING:
                if token.value == "":
                    raise _fail('empty string ""', token.position, "a value needs at least one character")
                if token.value == WILDCARD:
                    wildcard = True
                elif token.value not in values:
                    values.append(token.value)
            elif token.kind is _Kind.STAR:
                wildcard = True
            elif token.kind is _Kind.NUMBER:
                raise _fail(
                    f"unquoted number {token.text} in an IN list",
                    token.position,
                    f'IN and NOT IN match strings: write "{token.text}", or compare numbers with =',
                )
            elif token.kind is _Kind.PARAM:
                raise _fail(
                    f"parameter {token.text} in a list of values",
                    token.position,
                    "a parameter must be the only value in its list",
                )
            else:
                raise self.expected('a value in double quotes, such as "comedy"')
            self.advance()
            if not self.at(_Kind.COMMA):
                return StringSet(tuple(values), wildcard)
            self.advance()

    def close_paren(self, open_token: _Token, what: str = '")"') -> None:
        if self.at(_Kind.RPAREN):
            self.advance()
            return
        if self.at(_Kind.EOF):
            raise _fail(
                'expected ")", found the end of the expression',
                self.token.position,
                f'the "(" at position {open_token.position} is never closed',
            )
        raise self.expected(what)

    def comparison_value(self, operator: Operator) -> Value:
        token = self.token
        if token.kind is _Kind.LPAREN:
            self.advance()
            if self.token.kind not in (_Kind.PARAM, _Kind.NUMBER, _Kind.STRING):
                raise self.expected("a number or a $PARAMETER")
            inner = self.comparison_value(operator)
            self.close_paren(token)
            return inner
        if token.kind is _Kind.PARAM:
            return Parameter(self.advance().value)
        if token.kind is _Kind.NUMBER:
            self.advance()
            return Scalar(token.value, parse_number(token.value))
        if token.kind is _Kind.STRING:
            if operator.is_range:
                raise _fail(
                    f'string {token.text} after "{operator.value}"',
                    token.position,
                    f'"{operator.value}" compares numbers',
                )
            if token.value == "":
                raise _fail('empty string ""', token.position, "a value needs at least one character")
            self.advance()
            return Scalar(token.value, parse_number(token.value))
        if self.is_keyword("CURRENTITEM"):
            return self.current_item()
        raise self.expected("a number, a $PARAMETER or CurrentItem.<field>")

    def current_item(self) -> CurrentItemRef:
        self.advance()
        name_token = self.field_name()
        return CurrentItemRef(name_token.value.upper())

    def check_value(
        self, ref: FieldRef, operator: Operator, value: Value, token: _Token, subject: Subject, *, in_if: bool
    ) -> None:
        """Rules that tie a value to its field, operator and place (L15283, L15292, L15348, L15362)."""
        if ref.dataset.is_interactions and not in_if and not operator.is_membership:
            raise _fail(
                f'operator "{operator.value}" on {ref}', token.position, "event types support only IN and NOT IN"
            )
        if operator is Operator.NOT_IN and isinstance(value, Parameter):
            # Personalize's message (L18531), plus the documented workaround (L15292).
            raise _fail(
                f"Invalid input symbol: ${value.name}. Placeholders are not allowed with NOT_IN operator",
                token.position,
                "use IN with the opposite action (EXCLUDE instead of INCLUDE, or the reverse)",
            )
        if isinstance(value, StringSet) and value.wildcard and (in_if or not ref.dataset.is_interactions):
            raise _fail(
                f'wildcard "{WILDCARD}" on {ref}',
                token.position,
                "the wildcard can be used only with the EVENT_TYPE field of an interactions dataset",
            )
        if isinstance(value, CurrentItemRef) and (
            in_if or subject is not Subject.ITEM_ID or ref.dataset is not Dataset.ITEMS
        ):
            raise _fail(
                f"CurrentItem compared with {ref}",
                token.position,
                "CurrentItem can be compared only with an Items field in an ItemID filter (related items)",
            )


def _summarise(text: str, expressions: list[Expression]) -> FilterExpression:
    subject = expressions[0].subject
    fields: dict[str, None] = {}
    parameters: dict[str, None] = {}
    datasets: set[Dataset] = set()
    for index, expression in enumerate(expressions, start=1):
        if expression.subject is not subject:
            raise _fail(
                f"expression {index} filters {expression.subject.value} but expression 1 filters {subject.value}",
                expression.position,
                'all expressions chained with "|" must filter the same kind of result',
            )
        datasets.add(expression.dataset)
        if expression.if_condition is not None:
            datasets.add(Dataset.USERS)
        for condition in expression.conditions():
            fields.setdefault(condition.field.qualified)
            if isinstance(condition.value, CurrentItemRef):
                fields.setdefault(condition.value.field.qualified)
                datasets.add(Dataset.ITEMS)
            if isinstance(condition.value, Parameter):
                parameters.setdefault(condition.value.name)
    if len(fields) > MAX_DISTINCT_FIELDS_PER_FILTER:
        raise _fail(
            f"the filter uses {len(fields)} distinct dataset fields ({', '.join(fields)}); "
            f"a filter can use at most {MAX_DISTINCT_FIELDS_PER_FILTER}"
        )
    if len(parameters) > MAX_PARAMETERS_PER_FILTER:
        raise _fail(
            f"the filter uses {len(parameters)} distinct parameters; at most {MAX_PARAMETERS_PER_FILTER} can "
            "be supplied in filterValues"
        )
    return FilterExpression(
        text=text,
        expressions=tuple(expressions),
        fields=frozenset(fields),
        parameters=tuple(parameters),
        datasets=frozenset(datasets),
    )


def parse_filter_expression(expression: str) -> FilterExpression:
    """Parse and validate a filter expression; raise InvalidInputException saying what is wrong and where."""
    if not isinstance(expression, str):
        raise InvalidInputException(f"{_PREFIX}the filter expression must be a string")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise InvalidInputException(
            f"{_PREFIX}the filter expression is {len(expression)} characters long; "
            f"the maximum is {MAX_EXPRESSION_LENGTH}"
        )
    if len(expression.strip()) < MIN_EXPRESSION_LENGTH:
        raise InvalidInputException(f"{_PREFIX}the filter expression is empty")
    return _summarise(expression, _Parser(expression).filter())
