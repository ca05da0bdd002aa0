export { configSchema, clusterSchema, SECRET_FIELDS, SECRET_REF, type ClusterConfig, type Cluster } from "./schema.js";
export { loadConfigFile, loadConfigText, formatDiagnostic, escapeControls, hasErrors, type Diagnostic, type LoadResult } from "./load.js";
