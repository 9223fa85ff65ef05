//! Line access: which lines a user may see, and the lines a
//! filter names, narrowed to those.

use std::collections::BTreeSet;

use super::AppState;
use super::error::ApiError;
use super::extract::AuthUser;
use crate::domain::LineFilter;
use crate::domain::filter::metadata_matches;
use crate::store::{LineScope, PhoneNumberRow, StoreError};

/// The line ids a user may see; `None` means every line.
pub fn visible_ids(user: &AuthUser) -> Option<&[i64]> {
    if user.role.sees_all_lines() {
        None
    } else {
        Some(&user.phone_number_ids)
    }
}

/// Whether the user may see this line.
pub fn may_see(user: &AuthUser, line: &PhoneNumberRow) -> bool {
    visible_ids(user).is_none_or(|ids| ids.contains(&line.id))
}

/// Turns a filter into the set of business numbers to read, for this user.
/// A number the user may not see is 403, worded as for a number no line
/// has, so the answer tells nothing of other users' lines; a group or
/// metadata filter is narrowed silently to the user's lines.
pub async fn scope(
    state: &AppState,
    user: &AuthUser,
    filter: &LineFilter,
) -> Result<LineScope, ApiError> {
    let lines = state.store.list_phone_numbers(true).await?;
    let allowed: Option<BTreeSet<String>> = visible_ids(user).map(|ids| {
        lines
            .iter()
            .filter(|l| ids.contains(&l.id))
            .map(|l| l.number.clone())
            .collect()
    });
    let mut set: Option<BTreeSet<String>> = None;
    let narrow = |set: &mut Option<BTreeSet<String>>, with: BTreeSet<String>| {
        *set = Some(match set.take() {
            Some(s) => s.intersection(&with).cloned().collect(),
            None => with,
        });
    };
    if let Some(numbers) = &filter.numbers {
        if let Some(allowed) = &allowed
            && let Some(n) = numbers.iter().find(|n| !allowed.contains(n.as_str()))
        {
            return Err(ApiError::Forbidden(format!(
                "phone number {} is not one of your lines",
                n.masked()
            )));
        }
        narrow(
            &mut set,
            numbers.iter().map(|n| n.as_str().to_string()).collect(),
        );
    }
    if let Some(gid) = filter.group_id {
        let group = match state.store.get_group(gid).await {
            Ok(g) => g,
            Err(StoreError::NotFound) => {
                return Err(ApiError::invalid(
                    "groupId",
                    format!("no group has id {gid}"),
                ));
            }
            Err(e) => return Err(e.into()),
        };
        let members = lines
            .iter()
            .filter(|l| group.phone_number_ids.contains(&l.id))
            .map(|l| l.number.clone())
            .collect();
        narrow(&mut set, members);
    }
    if !filter.metadata.is_empty() {
        let matching = lines
            .iter()
            .filter(|l| metadata_matches(&l.metadata, &filter.metadata))
            .map(|l| l.number.clone())
            .collect();
        narrow(&mut set, matching);
    }
    if let Some(allowed) = allowed {
        narrow(&mut set, allowed);
    }
    Ok(match set {
        None => LineScope::All,
        Some(s) => LineScope::Only(s.into_iter().collect()),
    })
}
