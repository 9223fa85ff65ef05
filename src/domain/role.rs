//! Roles and what each may do.

use std::fmt;
use std::str::FromStr;

use super::Invalid;

/// A user's role. Ordered from most to least powerful.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    Admin,
    Manager,
    Agent,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::SuperAdmin, Role::Admin, Role::Manager, Role::Agent];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::SuperAdmin => "super_admin",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Agent => "agent",
        }
    }

    /// May change the registry of lines, groups and calls ("admin+").
    pub fn can_manage_lines(self) -> bool {
        matches!(self, Role::SuperAdmin | Role::Admin)
    }

    /// May manage users.
    pub fn can_manage_users(self) -> bool {
        self == Role::SuperAdmin
    }

    /// Sees every line; managers and agents see only the lines assigned to them.
    pub fn sees_all_lines(self) -> bool {
        matches!(self, Role::SuperAdmin | Role::Admin)
    }
}

impl FromStr for Role {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Invalid::new(
                    "role",
                    format!("'{s}' is not a role (super_admin, admin, manager, agent)"),
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_permissions() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Admin.can_manage_lines() && !Role::Admin.can_manage_users());
        assert!(!Role::Manager.can_manage_lines() && !Role::Manager.sees_all_lines());
        assert!(Role::SuperAdmin.can_manage_users());
    }
}
