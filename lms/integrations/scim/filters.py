"""SCIM filters as SQL, for the attributes provisioning systems look people up by.

Identity providers find a person before they create one (`userName eq "…"`, `externalId eq
"…"`, `emails.value eq "…"`) and Entra ID checks a manager before setting it (`id eq "…" and
manager eq "…"`), on every sync, so those run in the database however many
people Vern holds. A filter on anything else raises `NotInSql`, and the storage evaluates it
with scim2-models over every row instead: correct, and rare enough to afford."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from scim2_models.path import (
    AttrPath,
    CompareOperator,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
)
from sqlalchemy import ColumnElement, and_, false, func, not_, or_

from lms.integrations.scim.schemas import ENTERPRISE_SCHEMA, GROUP_SCHEMA, USER_SCHEMA
from lms.people.models import Department, User
from lms.web import whole_number

# Providers look people up with one to three comparisons. SQLite refuses an expression more
# than 1000 deep ("Expression tree is too large"), and a long `or` chain is one level each;
# far below that, a filter is refused as SCIM's invalidFilter instead of a 500.
MAX_FILTER_TERMS = 100


class NotInSql(Exception):
    """This filter needs the in-memory evaluation."""


def terms(node: object) -> int:
    """How many comparisons (and presence tests) a filter holds, however they are nested."""
    if isinstance(node, LogicalExpr):
        return sum(terms(term) for term in node.terms)
    if isinstance(node, Not):
        return terms(node.expr)
    inner = getattr(node, "filter", None)  # a value path: emails[type eq "work"]
    return 1 + (terms(inner) if isinstance(inner, FilterNode) else 0)


class Column:
    """A filterable attribute: its SQL expression and whether SCIM compares it case-exactly."""

    def __init__(
        self,
        expression: Callable[[], Any],
        *,
        case_exact: bool = False,
        is_id: bool = False,
    ) -> None:
        self.expression = expression
        self.case_exact = case_exact
        self.is_id = is_id


# (schema, attribute, sub-attribute), all lower case, as SCIM names are case-insensitive.
USER_COLUMNS: Mapping[tuple[str, str, str | None], Column] = {
    (USER_SCHEMA, "id", None): Column(lambda: User.id, is_id=True),
    (USER_SCHEMA, "username", None): Column(lambda: func.coalesce(User.scim_user_name, User.email)),
    (USER_SCHEMA, "externalid", None): Column(lambda: User.external_id, case_exact=True),
    (USER_SCHEMA, "emails", "value"): Column(lambda: User.email),
    (USER_SCHEMA, "emails", None): Column(lambda: User.email),
    (USER_SCHEMA, "displayname", None): Column(lambda: User.display_name),
    (ENTERPRISE_SCHEMA, "employeenumber", None): Column(lambda: User.employee_number),
    # Entra ID asks whether a person's manager already is the one it is about to set.
    (ENTERPRISE_SCHEMA, "manager", None): Column(lambda: User.manager_id, is_id=True),
    (ENTERPRISE_SCHEMA, "manager", "value"): Column(lambda: User.manager_id, is_id=True),
}
GROUP_COLUMNS: Mapping[tuple[str, str, str | None], Column] = {
    (GROUP_SCHEMA, "id", None): Column(lambda: Department.id, is_id=True),
    (GROUP_SCHEMA, "displayname", None): Column(lambda: Department.name),
    (GROUP_SCHEMA, "externalid", None): Column(lambda: Department.external_id, case_exact=True),
}


def _like_pattern(value: str, op: CompareOperator) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if op is CompareOperator.co:
        return f"%{escaped}%"
    if op is CompareOperator.sw:
        return f"{escaped}%"
    return f"%{escaped}"


class SqlFilter:
    """Turns one resource type's filter AST into a WHERE clause."""

    def __init__(self, columns: Mapping[tuple[str, str, str | None], Column]) -> None:
        self.columns = {(key[0].lower(), key[1], key[2]): col for key, col in columns.items()}

    def _column(self, path: AttrPath) -> Column:
        # An unqualified name may be the core schema's or an extension's (RFC 7644 §3.10).
        schema = path.uri.lower() if path.uri else None
        wanted = (path.attr.lower(), path.sub_attr.lower() if path.sub_attr else None)
        for (column_schema, attribute, sub), column in self.columns.items():
            if (attribute, sub) == wanted and schema in (None, column_schema):
                return column
        raise NotInSql(str(path))

    def where(self, node: FilterNode) -> ColumnElement[bool]:
        if isinstance(node, LogicalExpr):
            terms = [self.where(term) for term in node.terms]
            return and_(*terms) if node.op is LogicalOperator.and_ else or_(*terms)
        if isinstance(node, Not):
            return not_(self.where(node.expr))
        if isinstance(node, Present):
            return self._column(node.attr_path).expression().is_not(None)
        if isinstance(node, Comparison):
            return self._comparison(node)
        raise NotInSql(str(node))

    def _comparison(self, node: Comparison) -> ColumnElement[bool]:
        column = self._column(node.attr_path)
        if not isinstance(node.value, str):
            raise NotInSql(str(node))
        if column.is_id:
            if node.op is not CompareOperator.eq:
                raise NotInSql(str(node))
            # Vern's ids are numbers; a value that is not one (or "²", or past 64 bits)
            # matches nobody.
            number = whole_number(node.value)
            if number is None:
                return false()
            return column.expression() == number
        expression = column.expression()
        value = node.value
        if not column.case_exact:
            expression, value = func.lower(expression), value.lower()
        if node.op is CompareOperator.eq:
            return expression == value
        if node.op in (CompareOperator.co, CompareOperator.sw, CompareOperator.ew):
            return expression.like(_like_pattern(value, node.op), escape="\\")
        raise NotInSql(str(node))


USERS = SqlFilter(USER_COLUMNS)
GROUPS = SqlFilter(GROUP_COLUMNS)
