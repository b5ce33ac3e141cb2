//! Access keys of users, through the key store (the only writer of key rows); secrets are
//! shown once, at creation.

use super::{Actor, Control, KeyInfo, NewKey, no_such_key};
use crate::error::{Error, Result, client_err};
use crate::keys::KeyChange;
use crate::secrets;

impl Control {
    pub async fn create_key(&self, actor: &Actor, user_id: &str) -> Result<NewKey> {
        self.get_user(actor, user_id)?;
        let access_key = secrets::new_access_key();
        let secret_key = secrets::new_secret_key();
        self.gateway
            .keys()
            .put_key(&access_key, &secret_key, user_id)
            .await?;
        Ok(NewKey {
            access_key,
            secret_key,
            user_id: user_id.to_owned(),
        })
    }

    pub fn list_keys(&self, actor: &Actor, user_id: &str) -> Result<Vec<KeyInfo>> {
        self.get_user(actor, user_id)?;
        Ok(self
            .gateway
            .keys()
            .keys_of(user_id)?
            .into_iter()
            .map(|k| KeyInfo {
                access_key: k.access_key,
                user_id: k.owner,
                created: k.created,
                disabled: k.disabled,
            })
            .collect())
    }

    /// Enables or disables a key, or deletes it (`disabled == None`).
    pub async fn change_key(
        &self,
        actor: &Actor,
        user_id: &str,
        access_key: &str,
        disabled: Option<bool>,
    ) -> Result<()> {
        self.get_user(actor, user_id)?;
        let change = match disabled {
            Some(true) => KeyChange::Disable,
            Some(false) => KeyChange::Enable,
            None => KeyChange::Delete,
        };
        if self
            .gateway
            .keys()
            .change(user_id, access_key, change)
            .await?
        {
            Ok(())
        } else {
            Err(no_such_key())
        }
    }

    /// The access key and secret to presign with for `actor`: the user's own key, or root's.
    pub fn signing_key(&self, actor: &Actor, access_key: Option<&str>) -> Result<(String, String)> {
        let key = match (actor, access_key) {
            (_, Some(k)) => k.to_owned(),
            (Actor::Admin, None) => self.gateway.keys().root_key()?,
            (Actor::User(_), None) => {
                return Err(client_err!(AccessDenied, "no access key to sign with"));
            }
        };
        let secret = self.gateway.keys().secret_of(&key).map_err(Error::from)?;
        Ok((key, secret))
    }
}
