// Starts Swagger UI or ReDoc on the vendored bundles (no CDN, no inline script).
"use strict";
(function () {
  const swagger = document.getElementById("swagger-ui");
  if (swagger && window.SwaggerUIBundle) {
    window.SwaggerUIBundle({ url: swagger.dataset.openapi, dom_id: "#swagger-ui", deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis], layout: "BaseLayout" });
  }
  const redoc = document.getElementById("redoc");
  if (redoc && window.Redoc) {
    window.Redoc.init(redoc.dataset.openapi, { disableSearch: false }, redoc);
  }
})();
