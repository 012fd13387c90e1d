//! The SQL the project ships, checked without a SQL Server: the compose scripts, the migrations
//! and the README's setup blocks must agree on who is who, and compose must give every script
//! what it needs. The real-SQL-Server suite runs the same scripts for real.
mod support;

use std::collections::BTreeSet;

use support::{principals, Principal};

fn every_principal() -> Vec<(String, Principal)> {
    support::shipped_sql()
        .into_iter()
        .flat_map(|(source, sql)| {
            principals(&sql)
                .into_iter()
                .map(move |principal| (source.clone(), principal))
        })
        .collect()
}

fn names(of: impl Fn(&Principal) -> Option<&String>) -> BTreeSet<String> {
    every_principal()
        .iter()
        .filter_map(|(_, principal)| of(principal).cloned())
        .collect()
}

fn roles() -> BTreeSet<String> {
    names(|p| match p {
        Principal::Role(name) => Some(name),
        _ => None,
    })
}

fn users() -> BTreeSet<String> {
    names(|p| match p {
        Principal::User(name) => Some(name),
        _ => None,
    })
}

#[test]
fn the_shipped_sql_creates_the_roles_and_the_example_users() {
    assert_eq!(
        roles(),
        BTreeSet::from(["qoe_reader".to_owned(), "qoe_writer".to_owned()])
    );
    assert_eq!(
        users(),
        BTreeSet::from([
            "qoe_agent_reader".to_owned(), // the sql_agent source's msdb reader (issue 8)
            "qoe_job".to_owned(),
            "qoe_service".to_owned()
        ])
    );
}

#[test]
fn no_database_user_shares_a_name_with_a_role() {
    let roles = roles();
    let clashes: Vec<_> = every_principal()
        .into_iter()
        .filter(|(_, principal)| matches!(principal, Principal::User(name) if roles.contains(name)))
        .collect();

    assert!(
        clashes.is_empty(),
        "users and roles share one namespace in a database; these users are named as a role: \
         {clashes:?}"
    );
}

#[test]
fn every_role_member_is_a_user_and_no_role_joins_itself() {
    let (roles, users) = (roles(), users());
    let memberships: Vec<_> = every_principal()
        .into_iter()
        .filter_map(|(source, principal)| match principal {
            Principal::Membership { role, member } => Some((source, role, member)),
            _ => None,
        })
        .collect();

    assert!(
        !memberships.is_empty(),
        "the shipped SQL adds users to roles (ALTER ROLE … ADD MEMBER); none was found"
    );
    for (source, role, member) in memberships {
        assert!(roles.contains(&role), "{source}: {role} is not a role");
        assert_ne!(
            role, member,
            "{source}: a role cannot be a member of itself"
        );
        assert!(
            users.contains(&member),
            "{source}: {member}, added to {role}, is not a user the project creates"
        );
    }
}

#[test]
fn the_demo_rows_impersonate_a_user_not_a_role() {
    let (roles, users) = (roles(), users());
    let impersonated: Vec<_> = every_principal()
        .into_iter()
        .filter_map(|(source, principal)| match principal {
            Principal::Impersonation(name) => Some((source, name)),
            _ => None,
        })
        .collect();

    assert!(
        !impersonated.is_empty(),
        "demo-rows.sql writes as the job's user"
    );
    for (source, name) in impersonated {
        assert!(
            !roles.contains(&name),
            "{source}: EXECUTE AS USER names the role {name}"
        );
        assert!(
            users.contains(&name),
            "{source}: {name} is not a user the project creates"
        );
    }
}

#[test]
fn every_user_the_scripts_create_is_for_a_login_they_create() {
    let logins = names(|p| match p {
        Principal::Login(name) => Some(name),
        _ => None,
    });

    assert_eq!(
        users(),
        logins,
        "each example login has exactly one user of its name"
    );
}

#[test]
fn existence_checks_in_the_compose_scripts_filter_by_principal_type() {
    for script in ["docker/init.sql", "docker/roles.sql"] {
        let text = support::read(script).to_ascii_uppercase();
        for unsafe_check in ["USER_ID(", "DATABASE_PRINCIPAL_ID(", "SUSER_ID("] {
            assert!(
                !text.contains(unsafe_check),
                "{script}: {unsafe_check}…) also finds a role of that name; \
                 check sys.*_principals by name and type"
            );
        }
        assert!(
            text.contains("AND TYPE = N'S'"),
            "{script} checks the principal's type"
        );
    }
}

#[test]
fn compose_gives_init_sql_every_sqlcmd_variable_it_uses() {
    let used = support::sqlcmd_variables(&support::read(support::COMPOSE_INIT.0));
    let given: Vec<String> = support::compose_sqlcmd_variables("db-init")
        .into_iter()
        .map(|(name, _)| name)
        .collect();

    assert_eq!(used, given);
    for (_, variable) in support::compose_sqlcmd_variables("db-init") {
        assert!(
            !support::compose_default(&variable).is_empty(),
            "{variable} has a default in docker-compose.yml"
        );
    }
}

#[test]
fn the_service_in_compose_logs_in_as_the_service_login() {
    let compose = support::read("docker-compose.yml");

    assert!(
        compose.contains("User Id=qoe_service;Password=${QOE_SERVICE_PASSWORD:-"),
        "the qoe-data-service container uses the login init.sql creates"
    );
}

#[test]
fn the_compose_demo_rows_are_the_documentation_sample() {
    let demo: BTreeSet<(String, String)> = support::read("docker/demo-rows.sql")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("EXEC dbo.WriteIntegrationLog "))
        .map(|arguments| {
            let quoted: Vec<&str> = arguments.split('\'').skip(1).step_by(2).collect();
            let time = quoted.last().expect("a LogTime").replace('T', " ");
            (quoted[0].to_owned(), time)
        })
        .collect();
    let sample: BTreeSet<(String, String)> = testkit::integration_log::documentation_sample_rows()
        .into_iter()
        .map(|row| {
            (
                row.category,
                row.time.format("%Y-%m-%d %H:%M:%S").to_string(),
            )
        })
        .collect();

    assert_eq!(demo, sample);
}

#[test]
fn the_readme_gives_the_login_setup_as_two_runnable_blocks() {
    let blocks = support::readme_sql_blocks(support::README_SETUP);

    assert_eq!(
        blocks.len(),
        2,
        "one block for master, one for the archive database"
    );
    assert!(principals(&blocks[0])
        .iter()
        .all(|p| matches!(p, Principal::Login(_))));
    assert!(principals(&blocks[1])
        .iter()
        .all(|p| matches!(p, Principal::User(_) | Principal::Membership { .. })));
}

#[test]
fn sqlcmd_batches_split_on_go_lines_only() {
    let script = "SELECT 1;\nGO\nSELECT N'GO';\n  go  \n\nGO\n";

    assert_eq!(
        support::batches(script),
        vec!["SELECT 1;\n".to_owned(), "SELECT N'GO';\n".to_owned()]
    );
}

#[test]
fn sqlcmd_variables_are_substituted_like_sqlcmd_does() {
    let script = "CREATE LOGIN a WITH PASSWORD = N'$(A_PASSWORD)'; -- $(A_PASSWORD) again";

    assert_eq!(
        support::substitute(script, &[("A_PASSWORD", "p")]),
        "CREATE LOGIN a WITH PASSWORD = N'p'; -- p again"
    );
}
