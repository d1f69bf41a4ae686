// SPDX-License-Identifier: AGPL-3.0-or-later
// Sign-in page: posts to /api/v1/auth/login (a session cookie and a CSRF cookie come back), then
// returns to the page that sent the user here. Not through api(): a 401 here means "wrong
// password", not "go and sign in".

import { API, csrfToken, safeNext } from "./api.js";

const form = document.getElementById("login-form");
const errorEl = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function showError(text) {
  errorEl.hidden = false;
  errorEl.textContent = text;
}

async function signIn(event) {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError("Enter your user name and password.");
    return;
  }
  submit.disabled = true;
  errorEl.hidden = true;
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  const token = csrfToken();
  if (token) headers["X-CSRF-Token"] = token;
  let response;
  try {
    response = await fetch(`${API}/auth/login`, {
      method: "POST",
      headers,
      body: JSON.stringify({ username, password }),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    showError("Cannot reach the storelens server. Try again in a moment.");
    submit.disabled = false;
    return;
  }
  if (response.ok) {
    location.assign(safeNext(new URLSearchParams(location.search).get("next")));
    return;
  }
  let detail = null;
  try {
    const body = await response.json();
    if (typeof body.detail === "string") detail = body.detail;
  } catch {
    // no JSON body
  }
  if (response.status === 404) showError("Sign-in is not enabled on this server.");
  else if (response.status === 401) showError("User name or password is wrong.");
  else if (response.status === 429) showError(detail || "Too many attempts. Wait a minute and try again.");
  else showError(detail || `Sign-in failed (HTTP ${response.status}).`);
  submit.disabled = false;
  form.password.value = "";
  form.password.focus();
}

form.addEventListener("submit", signIn);
