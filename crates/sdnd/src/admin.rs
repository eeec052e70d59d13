//! pveum-style administration on the store, safe to run while the server serves:
//! users, API tokens, ACLs and roles.

use std::io::Read;

use clap::Subcommand;

use crate::auth::acl::Subject;
use crate::auth::ids::{parse_token_id, TokenName, UserId};
use crate::auth::records;
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
    }
    Ok(())
}

pub fn token(command: TokenCommand) -> Result<(), String> {
    let TokenCommand::Add { userid, tokenid, privsep, expire, store } = command;
    let user = UserId::parse(&userid)?;
    let token = TokenName::parse(&tokenid)?;
    let secret = records::add_token(open_store(&store)?.as_ref(), &user, &token, privsep, expire, None, crate::Clock::system().now())?;
    println!("{user}!{}={secret}", token.as_str());
    Ok(())
}

pub fn acl(command: AclCommand) -> Result<(), String> {
    let AclCommand::Modify { path, users, tokens, roles, propagate, delete, store } = command;
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
    let RoleCommand::Add { role, privs, store } = command;
    records::add_role(open_store(&store)?.as_ref(), &role, &list(&privs))?;
    println!("created role {role}");
    Ok(())
}
