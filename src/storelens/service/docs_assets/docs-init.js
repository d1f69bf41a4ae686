// SPDX-License-Identifier: AGPL-3.0-or-later
// Starts the bundled Swagger UI on the API's own description: no CDN, no inline script, so the
// page works in a store without internet and under the service's strict content security policy.
window.ui = SwaggerUIBundle({
  url: document.body.dataset.openapi,
  dom_id: "#swagger-ui",
  deepLinking: true,
  layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis],
});
