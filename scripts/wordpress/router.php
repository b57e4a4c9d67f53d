<?php
// Router for `php -S` serving a WordPress test site (see ../wordpress-test-server.sh).
// The built-in server has no rewrite rules, so real files are served as they are and
// everything else goes to WordPress's front controller, which is what makes pretty
// permalinks and /wp-json/ work the way they do behind Apache's .htaccess.

$root = rtrim($_SERVER['DOCUMENT_ROOT'], '/');
$path = rawurldecode(parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?? '/');

if ($path !== '/' && strpos($path, "\0") === false && file_exists($root . $path)) {
    if (is_dir($root . $path) && substr($path, -1) !== '/') {
        // Same redirect Apache's mod_dir gives, so /wp-admin becomes /wp-admin/.
        header('Location: ' . $path . '/', true, 301);
        return true;
    }
    return false; // Let the built-in server serve the file (or run the .php file).
}

chdir($root);
$_SERVER['SCRIPT_NAME'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $root . '/index.php';
$_SERVER['PHP_SELF'] = '/index.php';
require $root . '/index.php';
