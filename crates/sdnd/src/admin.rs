//! pveum-style administration on the store, safe to run while the server serves:
//! users, API tokens, ACLs and roles.

use std::io::Read;

use clap::Subcommand;

use crate::auth::acl::Subject;
use crate::auth::ids::{parse_token_id, TokenName, UserId};
use crate::auth::records::{self, AccessData};
use serde_json::{json, Value};
use crate::store_args::{open_store, StoreArgs};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user of the pve realm.
    Add {
        userid: String,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Account expiry, epoch seconds (0: never).
        #[arg(long, default_value_t = 0)]
        expire: i64,
        #[arg(long)]
        comment: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable or disable a user, or change its expiry.
    Modify {
        userid: String,
        #[arg(long, value_parser = parse_bool, action = clap::ArgAction::Set)]
        enable: Option<bool>,
        /// Account expiry, epoch seconds (0: never).
        #[arg(long)]
        expire: Option<i64>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a user with its tokens and ACL entries.
    Delete {
        userid: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Set a user's password (also root@pam's), read from standard input.
    Passwd {
        userid: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the users (root@pam, built in, included).
    List {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output_format: Output,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// How a list is printed.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// A table for people.
    Text,
    /// A JSON array for scripts.
    Json,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create an API token; prints USERID!TOKENID=SECRET as the last line.
    Add {
        userid: String,
        tokenid: String,
        /// 1: the token only has what its own ACL grants (intersected with its user's);
        /// 0: the token has its user's privileges.
        #[arg(long, default_value = "0", value_parser = parse_bool, action = clap::ArgAction::Set)]
        privsep: bool,
        /// Token expiry, epoch seconds (0: never).
        #[arg(long, default_value_t = 0)]
        expire: i64,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the API tokens (of one user, or of all); never their secrets.
    List {
        /// Only this user's tokens.
        userid: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output_format: Output,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete an API token with its ACL entries.
    Delete {
        userid: String,
        tokenid: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum AclCommand {
    /// Grant (or with --delete 1 revoke) roles on a path to users or tokens.
    Modify {
        path: String,
        /// Comma-separated user ids.
        #[arg(long)]
        users: Option<String>,
        /// Comma-separated token ids (USER@REALM!TOKENID).
        #[arg(long)]
        tokens: Option<String>,
        /// Comma-separated role names.
        #[arg(long)]
        roles: String,
        #[arg(long, default_value = "1", value_parser = parse_bool, action = clap::ArgAction::Set)]
        propagate: bool,
        #[arg(long, default_value = "0", value_parser = parse_bool, action = clap::ArgAction::Set)]
        delete: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the ACL entries.
    List {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output_format: Output,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum RoleCommand {
    /// Create a custom role.
    Add {
        role: String,
        /// Comma-separated privileges, e.g. SDN.Audit,SDN.Use.
        #[arg(long)]
        privs: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the roles, built-in and custom, with their privileges.
    List {
        #[arg(long, value_enum, default_value_t = Output::Text)]
        output_format: Output,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum NodeCommand {
    /// Forget a node that left the cluster, so applies stop waiting for its agent.
    Remove {
        node: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(format!("'{text}' is not 0 or 1")),
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn read_password() -> Result<String, String> {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).map_err(|e| format!("reading the password: {e}"))?;
    let password = input.lines().next().unwrap_or("").to_string();
    if password.chars().count() < 8 {
        return Err("the password must have at least 8 characters".into());
    }
    Ok(password)
}

pub fn user(command: UserCommand) -> Result<(), String> {
    match command {
        UserCommand::Add { userid, password_stdin, expire, comment, store } => {
            let user = UserId::parse(&userid)?;
            let password = password_stdin.then(read_password).transpose()?;
            records::add_user(open_store(&store)?.as_ref(), &user, password.as_deref(), expire, comment)?;
            println!("created user {user}");
        }
        UserCommand::Modify { userid, enable, expire, store } => {
            let user = UserId::parse(&userid)?;
            records::modify_user(open_store(&store)?.as_ref(), &user, enable, expire)?;
            println!("modified user {user}");
        }
        UserCommand::Delete { userid, store } => {
            let user = UserId::parse(&userid)?;
            records::delete_user(open_store(&store)?.as_ref(), &user)?;
            println!("deleted user {user}");
        }
        UserCommand::Passwd { userid, store } => {
            let user = UserId::parse(&userid)?;
            let password = read_password()?;
            records::set_password(open_store(&store)?.as_ref(), &user, &password)?;
            println!("password of {user} changed");
        }
        UserCommand::List { output_format, store } => {
            let access = AccessData::load(open_store(&store)?.as_ref()).map_err(|e| e.to_string())?;
            let rows: Vec<Value> = access
                .users()
                .into_iter()
                .map(|(userid, record)| {
                    json!({
                        "userid": userid,
                        "enable": u8::from(record.enable),
                        "expire": record.expire,
                        "password": record.password_hash.is_some(),
                        "comment": record.comment,
                    })
                })
                .collect();
            print_rows(output_format, &rows, &["userid", "enable", "expire", "password", "comment"]);
        }
    }
    Ok(())
}

/// Prints `rows` as a JSON array or as a table of `columns` (absent values: empty).
fn print_rows(output: Output, rows: &[Value], columns: &[&str]) {
    if output == Output::Json {
        println!("{}", Value::Array(rows.to_vec()));
        return;
    }
    let cell = |row: &Value, column: &str| match &row[column] {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(true) => "yes".into(),
        Value::Bool(false) => "no".into(),
        other => other.to_string(),
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|column| rows.iter().map(|row| cell(row, column).chars().count()).max().unwrap_or(0).max(column.len()))
        .collect();
    let line = |cells: Vec<String>| {
        let text: Vec<String> = cells.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_string()).collect());
    for row in rows {
        line(columns.iter().map(|column| cell(row, column)).collect());
    }
}

pub fn token(command: TokenCommand) -> Result<(), String> {
    match command {
        TokenCommand::Add { userid, tokenid, privsep, expire, store } => {
            let user = UserId::parse(&userid)?;
            let token = TokenName::parse(&tokenid)?;
            let secret =
                records::add_token(open_store(&store)?.as_ref(), &user, &token, privsep, expire, None, crate::Clock::system().now())?;
            println!("{user}!{}={secret}", token.as_str());
        }
        TokenCommand::List { userid, output_format, store } => {
            let only = userid.as_deref().map(UserId::parse).transpose()?;
            let access = AccessData::load(open_store(&store)?.as_ref()).map_err(|e| e.to_string())?;
            let mut rows = Vec::new();
            for user in access.users().into_keys() {
                let user = UserId::parse(&user)?;
                if only.as_ref().is_some_and(|only| *only != user) {
                    continue;
                }
                for (name, record) in access.tokens_of(&user) {
                    rows.push(json!({
                        "tokenid": format!("{user}!{name}"),
                        "privsep": u8::from(record.privsep),
                        "expire": record.expire,
                        "created": record.created,
                        "comment": record.comment,
                    }));
                }
            }
            print_rows(output_format, &rows, &["tokenid", "privsep", "expire", "created", "comment"]);
        }
        TokenCommand::Delete { userid, tokenid, store } => {
            let user = UserId::parse(&userid)?;
            let token = TokenName::parse(&tokenid)?;
            records::delete_token(open_store(&store)?.as_ref(), &user, &token)?;
            println!("deleted token {user}!{}", token.as_str());
        }
    }
    Ok(())
}

pub fn acl(command: AclCommand) -> Result<(), String> {
    let (path, users, tokens, roles, propagate, delete, store) = match command {
        AclCommand::Modify { path, users, tokens, roles, propagate, delete, store } => (path, users, tokens, roles, propagate, delete, store),
        AclCommand::List { output_format, store } => {
            let (entries, _) = open_store(&store)?.list(crate::layout::ACLS_PREFIX).map_err(|e| e.to_string())?;
            let mut rows = Vec::new();
            for entry in entries {
                let Ok(acl) = serde_json::from_slice::<crate::layout::AclEntry>(&entry.value) else { continue };
                let (kind, ugid) = match &acl.subject {
                    Subject::User(id) => ("user", id),
                    Subject::Token(id) => ("token", id),
                };
                for (role, propagate) in &acl.roles {
                    rows.push(json!({"path": acl.path, "type": kind, "ugid": ugid, "roleid": role, "propagate": u8::from(*propagate)}));
                }
            }
            print_rows(output_format, &rows, &["path", "type", "ugid", "roleid", "propagate"]);
            return Ok(());
        }
    };
    let roles = list(&roles);
    if roles.is_empty() {
        return Err("--roles names no role".into());
    }
    let mut subjects = Vec::new();
    for user in users.as_deref().map(list).unwrap_or_default() {
        subjects.push(Subject::User(UserId::parse(&user)?.to_string()));
    }
    for token in tokens.as_deref().map(list).unwrap_or_default() {
        let (user, name) = parse_token_id(&token)?;
        subjects.push(Subject::Token(format!("{user}!{}", name.as_str())));
    }
    if subjects.is_empty() {
        return Err("give --users or --tokens".into());
    }
    let store = open_store(&store)?;
    for subject in subjects {
        records::modify_acl(store.as_ref(), &path, subject, &roles, propagate, delete)?;
    }
    Ok(())
}

pub fn node(command: NodeCommand) -> Result<(), String> {
    let NodeCommand::Remove { node, store } = command;
    sdn_config::net::check_node_name(&node).map_err(|e| format!("node: {e}"))?;
    let store = open_store(&store)?;
    if !crate::nodes::remove(store.as_ref(), &node).map_err(|e| e.to_string())? {
        return Err(format!("node '{node}' is not registered"));
    }
    println!("removed node {node}; a running agent for it registers again");
    Ok(())
}

pub fn role(command: RoleCommand) -> Result<(), String> {
    match command {
        RoleCommand::Add { role, privs, store } => {
            records::add_role(open_store(&store)?.as_ref(), &role, &list(&privs))?;
            println!("created role {role}");
        }
        RoleCommand::List { output_format, store } => {
            let mut rows = Vec::new();
            for name in crate::auth::acl::BUILTIN_ROLES {
                let privs = crate::auth::acl::builtin_role(name).unwrap_or_default();
                rows.push(json!({"roleid": name, "special": 1, "privs": privs.into_iter().collect::<Vec<_>>().join(",")}));
            }
            let (entries, _) = open_store(&store)?.list(crate::layout::ROLES_PREFIX).map_err(|e| e.to_string())?;
            for entry in entries {
                let Some(name) = entry.key.strip_prefix(crate::layout::ROLES_PREFIX) else { continue };
                let Ok(role) = serde_json::from_slice::<crate::layout::RoleRecord>(&entry.value) else { continue };
                rows.push(json!({"roleid": name, "special": 0, "privs": role.privs.into_iter().collect::<Vec<_>>().join(",")}));
            }
            print_rows(output_format, &rows, &["roleid", "special", "privs"]);
        }
    }
    Ok(())
}
