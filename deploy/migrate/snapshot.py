"""A normalized, deterministic reading of the catalog: what the round-trip proof compares.

Not a pg_dump text diff: pg_dump 15.14+ adds a random `\\restrict` key and its order is not
guaranteed. Each section maps an object's name to its definition as PostgreSQL prints it
(pg_get_*def), so a difference names the object. Column order is left out on purpose: a
column re-added by downgrade + upgrade gets a new attnum, and models declare columns in
another order than migrations add them; nothing here reads columns by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from hotel_models.migration_history import HISTORY_TABLE

Snapshot = dict[str, dict[str, str]]

# Each query returns (key, definition) rows for one kind of object in the user schemas.
_USER_NS = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'"
_NOT_EXTENSION = (
    "NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = {cls}::regclass "
    "AND d.objid = {oid} AND d.deptype = 'e')"
)

SECTIONS: dict[str, str] = {
    "extensions": """
        SELECT extname, extversion || ' in ' || extnamespace::regnamespace::text
        FROM pg_extension WHERE extname <> 'plpgsql'""",
    "schemas": f"""
        SELECT n.nspname, 'owner ' || pg_get_userbyid(n.nspowner)
        FROM pg_namespace n WHERE {_USER_NS}""",
    "tables": f"""
        SELECT n.nspname || '.' || c.relname,
               'kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
               || ' rls=' || c.relrowsecurity::text || ' options=' || coalesce(array_to_string(c.reloptions, ','), '-')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND {_USER_NS}
          AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}""",
    "columns": f"""
        SELECT n.nspname || '.' || c.relname || '.' || a.attname,
               format_type(a.atttypid, a.atttypmod)
               || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
               || coalesce(' default ' || pg_get_expr(ad.adbin, ad.adrelid), '')
               || CASE a.attidentity WHEN 'a' THEN ' identity always'
                                     WHEN 'd' THEN ' identity by default' ELSE '' END
               || CASE a.attgenerated WHEN 's' THEN ' generated stored' ELSE '' END
               || coalesce(' collate ' || co.collname, '')
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
        LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 100
        WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND {_USER_NS} AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}""",
    "constraints": f"""
        SELECT n.nspname || '.' || c.conrelid::regclass::text || '.' || c.conname,
               pg_get_constraintdef(c.oid, true)
               || CASE WHEN c.condeferrable THEN ' deferrable' ELSE '' END
               || CASE WHEN c.condeferred THEN ' initially deferred' ELSE '' END
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE {_USER_NS} AND c.contypid = 0""",
    "indexes": f"""
        SELECT n.nspname || '.' || i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_namespace n ON n.oid = i.relnamespace
        WHERE {_USER_NS} AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="x.indrelid")}""",
    "sequences": f"""
        SELECT n.nspname || '.' || c.relname,
               format_type(s.seqtypid, NULL) || ' start ' || s.seqstart || ' inc ' || s.seqincrement
               || ' min ' || s.seqmin || ' max ' || s.seqmax || ' cache ' || s.seqcache
               || CASE WHEN s.seqcycle THEN ' cycle' ELSE '' END
               || coalesce(' owned by ' || (
                    SELECT d.refobjid::regclass::text || '.' || a.attname FROM pg_depend d
                    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                    WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')), '')
        FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {_USER_NS}""",
    "types": f"""
        SELECT n.nspname || '.' || t.typname,
               CASE t.typtype
                 WHEN 'e' THEN 'enum(' || array_to_string(array(
                      SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                      ORDER BY e.enumsortorder), ', ') || ')'
                 WHEN 'd' THEN 'domain ' || format_type(t.typbasetype, t.typtypmod)
                      || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                      || coalesce(' default ' || t.typdefault, '')
                      || coalesce(' ' || (SELECT string_agg(pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname)
                                          FROM pg_constraint c WHERE c.contypid = t.oid), '')
                 ELSE 'type ' || t.typtype::text END
        FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE t.typtype IN ('e', 'd') AND {_USER_NS}
          AND {_NOT_EXTENSION.format(cls="'pg_type'", oid="t.oid")}""",
    "functions": f"""
        SELECT n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
               pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE {_USER_NS} AND p.prokind IN ('f', 'p', 'w')
          AND {_NOT_EXTENSION.format(cls="'pg_proc'", oid="p.oid")}""",
    "triggers": f"""
        SELECT n.nspname || '.' || c.relname || '.' || t.tgname,
               pg_get_triggerdef(t.oid, true) || ' enabled=' || t.tgenabled::text
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE NOT t.tgisinternal AND {_USER_NS}""",
    "event_triggers": """
        SELECT e.evtname, e.evtevent || ' ' || coalesce(array_to_string(e.evttags, ','), '*')
               || ' ' || e.evtfoid::regproc::text || ' enabled=' || e.evtenabled::text
        FROM pg_event_trigger e""",
    "views": f"""
        SELECT n.nspname || '.' || c.relname, pg_get_viewdef(c.oid, true)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('v', 'm') AND {_USER_NS}
          AND {_NOT_EXTENSION.format(cls="'pg_class'", oid="c.oid")}""",
    "policies": """
        SELECT schemaname || '.' || tablename || '.' || policyname,
               permissive || ' ' || cmd || ' to ' || array_to_string(roles, ',')
               || ' using ' || coalesce(qual, '-') || ' check ' || coalesce(with_check, '-')
        FROM pg_policies""",
    "comments": f"""
        SELECT c.relname || coalesce('.' || a.attname, ''), d.description
        FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
        WHERE {_USER_NS}""",
    # One key per (object, grantee, privilege): a forgotten REVOKE names exactly what stayed.
    # A NULL ACL means the default one; spelled out, so GRANT + REVOKE compares equal.
    "grants": f"""
        SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' ELSE 'table ' END
               || n.nspname || '.' || c.relname || ' to ' ||
               CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
               || ': ' || acl.privilege_type,
               'by ' || pg_get_userbyid(acl.grantor) || CASE WHEN acl.is_grantable THEN ' with grant option' ELSE '' END
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
             aclexplode(coalesce(c.relacl, acldefault(
                 CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) acl
        WHERE {_USER_NS} AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        UNION ALL
        SELECT 'column ' || n.nspname || '.' || c.relname || '.' || a.attname || ' to '
               || CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
               || ': ' || acl.privilege_type, 'by ' || pg_get_userbyid(acl.grantor)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(a.attacl) acl
        WHERE {_USER_NS} AND a.attacl IS NOT NULL
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text || ' to '
               || CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
               || ': ' || acl.privilege_type, 'by ' || pg_get_userbyid(acl.grantor)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
             aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) acl
        WHERE {_USER_NS} AND {_NOT_EXTENSION.format(cls="'pg_proc'", oid="p.oid")}
        UNION ALL
        SELECT 'schema ' || n.nspname || ' to '
               || CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
               || ': ' || acl.privilege_type, 'by ' || pg_get_userbyid(acl.grantor)
        FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) acl
        WHERE {_USER_NS}
        UNION ALL
        SELECT 'database to ' || CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
               || ': ' || acl.privilege_type, 'by ' || pg_get_userbyid(acl.grantor)
        FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) acl
        WHERE d.datname = current_database()""",
    "default_privileges": """
        SELECT pg_get_userbyid(d.defaclrole) || ' in ' || coalesce(d.defaclnamespace::regnamespace::text, '*')
               || ' on ' || d.defaclobjtype::text || ' to '
               || CASE WHEN acl.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
               || ': ' || acl.privilege_type, 'by ' || pg_get_userbyid(acl.grantor)
        FROM pg_default_acl d, aclexplode(d.defaclacl) acl""",
    # Roles are cluster-wide: every role but the bootstrap superuser and built-in pg_* ones.
    "roles": """
        SELECT r.rolname,
               concat_ws(' ',
                 CASE WHEN r.rolsuper THEN 'superuser' END,
                 CASE WHEN r.rolcanlogin THEN 'login' ELSE 'nologin' END,
                 CASE WHEN NOT r.rolinherit THEN 'noinherit' END,
                 CASE WHEN r.rolcreaterole THEN 'createrole' END,
                 CASE WHEN r.rolcreatedb THEN 'createdb' END,
                 CASE WHEN r.rolreplication THEN 'replication' END,
                 CASE WHEN r.rolbypassrls THEN 'bypassrls' END,
                 CASE WHEN r.rolconnlimit <> -1 THEN 'connlimit=' || r.rolconnlimit END,
                 CASE WHEN a.rolpassword IS NOT NULL THEN 'password=' || split_part(a.rolpassword, '$', 1) END,
                 'member of {' || array_to_string(array(
                     SELECT g.rolname || CASE WHEN m.admin_option THEN '(admin)' ELSE '' END
                     FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                     WHERE m.member = r.oid ORDER BY 1), ',') || '}',
                 'settings {' || array_to_string(array(
                     SELECT unnest(s.setconfig) FROM pg_db_role_setting s
                     WHERE s.setrole = r.oid AND s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
                     ORDER BY 1), ',') || '}',
                 'comment ' || coalesce(shobj_description(r.oid, 'pg_authid'), '-'))
        FROM pg_roles r LEFT JOIN pg_authid a ON a.oid = r.oid
        WHERE r.rolname NOT LIKE 'pg\\_%' AND r.oid <> 10""",
}


NOUNS = {
    "indexes": "index",
    "policies": "policy",
    "default_privileges": "default privilege",
    "event_triggers": "event trigger",
}

# Bookkeeping, created by the first upgrade and kept by every downgrade: Alembic's version
# table and our migration ledger (with their keys, sequences and grants).
BOOKKEEPING = ("alembic_version", HISTORY_TABLE)


def take_snapshot(connection: Connection) -> Snapshot:
    """Read every section; keys sorted so two snapshots compare as plain dicts."""
    snapshot: Snapshot = {}
    for section, query in SECTIONS.items():
        rows = connection.execute(text(query)).all()
        snapshot[section] = {
            str(key): str(value)
            for key, value in sorted(rows)
            if not any(table in str(key) for table in BOOKKEEPING)
        }
    return snapshot


@dataclass
class SnapshotDiff:
    """What differs between two snapshots, one line per object."""

    lines: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.lines)

    def __str__(self) -> str:
        return "\n".join(self.lines)


def diff_snapshots(
    expected: Snapshot, actual: Snapshot, ignore: frozenset[str] = frozenset()
) -> SnapshotDiff:
    """Lines like `index public.ix_rooms_city: missing` naming each differing object."""
    result = SnapshotDiff()
    for section in SECTIONS:
        if section in ignore:
            continue
        want, got = expected.get(section, {}), actual.get(section, {})
        noun = NOUNS.get(section, section.removesuffix("s"))
        for key in sorted(want.keys() - got.keys()):
            result.lines.append(f"{noun} {key}: missing (expected {want[key]!r})")
        for key in sorted(got.keys() - want.keys()):
            result.lines.append(f"{noun} {key}: unexpected ({got[key]!r})")
        for key in sorted(want.keys() & got.keys()):
            if want[key] != got[key]:
                result.lines.append(f"{noun} {key}: expected {want[key]!r}, got {got[key]!r}")
    return result
