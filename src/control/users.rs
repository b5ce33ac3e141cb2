//! Users (`USERS`): created by the admin, deleted with their keys once they own no bucket.

use redb::ReadableTable;

use super::{Actor, Control, control_error, invalid, no_such_user, validate_id, validate_user_id};
use crate::error::Result;
use crate::keys::{KeyStore, ROOT_USER};
use crate::meta::{USERS, UserRecord, get_json, now_millis};

impl Control {
    pub async fn create_user(
        &self,
        id: &str,
        name: Option<&str>,
        team: Option<&str>,
    ) -> Result<UserRecord> {
        validate_user_id(id)?;
        if id == ROOT_USER {
            return Err(invalid("id", "'root' is reserved"));
        }
        if let Some(t) = team {
            validate_id("team", t)?;
        }
        let rec = UserRecord {
            id: id.to_owned(),
            name: name.unwrap_or(id).to_owned(),
            team: team.map(str::to_owned),
            created: now_millis(),
        };
        let bytes = serde_json::to_vec(&rec)?;
        let key = id.to_owned();
        self.store()
            .write(move |txn| {
                let mut users = txn.open_table(USERS)?;
                if users.get(key.as_str())?.is_some() {
                    return Err(control_error(
                        "UserAlreadyExists",
                        http::StatusCode::CONFLICT,
                        "id: a user with this id exists",
                    ));
                }
                users.insert(key.as_str(), bytes.as_slice())?;
                Ok(())
            })
            .await?;
        Ok(rec)
    }

    pub fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.store().read(|txn| {
            let users = txn.open_table(USERS)?;
            let mut out = Vec::new();
            for item in users.iter()? {
                out.push(serde_json::from_slice(item?.1.value())?);
            }
            Ok(out)
        })
    }

    pub fn get_user(&self, actor: &Actor, id: &str) -> Result<UserRecord> {
        if !actor.may_see(id) {
            return Err(no_such_user());
        }
        self.store()
            .read(|txn| get_json(&txn.open_table(USERS)?, id))?
            .ok_or_else(no_such_user)
    }

    /// Deletes a user and their keys; refused while they own buckets.
    pub async fn delete_user(&self, id: &str) -> Result<()> {
        if self.gateway.registry().all().iter().any(|b| b.owner == id) {
            return Err(control_error(
                "UserOwnsBuckets",
                http::StatusCode::CONFLICT,
                "user still owns buckets; delete them first",
            ));
        }
        let user = id.to_owned();
        let removed_keys = self
            .store()
            .write(move |txn| {
                let mut users = txn.open_table(USERS)?;
                if users.get(user.as_str())?.is_none() {
                    return Err(no_such_user());
                }
                let doomed = KeyStore::remove_owned_in(txn, &user)?;
                users.remove(user.as_str())?;
                Ok(doomed)
            })
            .await?;
        for k in removed_keys {
            self.gateway.keys().forget(&k);
        }
        Ok(())
    }
}
