// Starts GOV.UK Frontend's components (loaded as a module; the CSP allows only our own scripts).
import { initAll } from "./govuk/govuk-frontend.min.js";

initAll();
