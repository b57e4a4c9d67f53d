<?php
// Installs WordPress without a browser and makes sure an Application Password exists.
// Called by ../wordpress-test-server.sh as:
//   php install.php WEB_ROOT SITE_URL DB_SOCKET
// with env WP_TEST_ADMIN_PASSWORD (used only on first install) and, when the caller already
// holds an Application Password, WP_TEST_APP_UUID (its uuid, to check it still exists).
// Prints KEY=VALUE lines: WP_USER, and WP_APP_UUID plus WP_PASSWORD when a new
// Application Password was created (WordPress stores only a hash, so it is shown once).

if ($argc !== 4) {
    fwrite(STDERR, "usage: php install.php WEB_ROOT SITE_URL DB_SOCKET\n");
    exit(2);
}
[, $webRoot, $siteUrl, $socket] = $argv;
const ADMIN_USER = 'admin';
const APP_NAME = 'warta-tests';

// The database must exist before wp-load.php connects, or WordPress dies with a DB error page.
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$db = new mysqli('localhost', 'wp', '', '', 0, $socket);
$db->query('CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci');
$db->close();

// wp-load.php looks at the request to build URLs; there is none on the command line.
$parts = parse_url($siteUrl);
$_SERVER['HTTP_HOST'] = $parts['host'] . (isset($parts['port']) ? ':' . $parts['port'] : '');
$_SERVER['SERVER_NAME'] = $parts['host'];
$_SERVER['REQUEST_URI'] = '/';
$_SERVER['REQUEST_METHOD'] = 'GET';

define('WP_INSTALLING', true);
require $webRoot . '/wp-load.php';
// Pluggable: replacing it keeps wp_install() from trying to mail the new site's owner.
function wp_new_blog_notification($blog_title, $blog_url, $user_id, $password)
{
}
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (!is_blog_installed()) {
    $password = getenv('WP_TEST_ADMIN_PASSWORD') ?: wp_generate_password(24, false);
    $result = wp_install('Warta Test Site', ADMIN_USER, 'admin@example.invalid', false, '', $password);
    if (is_wp_error($result)) {
        fwrite(STDERR, 'wp_install failed: ' . $result->get_error_message() . "\n");
        exit(1);
    }
    // An Indonesian office site: local time differs from UTC, which keeps date handling honest.
    update_option('timezone_string', 'Asia/Jakarta');
    update_option('permalink_structure', '/%postname%/');
    // A soft flush: rules live in the database; .htaccess is irrelevant under `php -S`.
    flush_rewrite_rules(false);
}

$user = get_user_by('login', ADMIN_USER);
if (!$user) {
    fwrite(STDERR, "user admin is missing\n");
    exit(1);
}
echo 'WP_USER=' . ADMIN_USER . "\n";

$uuid = getenv('WP_TEST_APP_UUID') ?: '';
if ($uuid !== '' && WP_Application_Passwords::get_user_application_password($user->ID, $uuid)) {
    exit(0); // The caller's stored password is still valid.
}
$created = WP_Application_Passwords::create_new_application_password($user->ID, ['name' => APP_NAME]);
if (is_wp_error($created)) {
    fwrite(STDERR, 'creating application password failed: ' . $created->get_error_message() . "\n");
    exit(1);
}
[$appPassword, $item] = $created;
echo 'WP_APP_UUID=' . $item['uuid'] . "\n";
echo 'WP_PASSWORD=' . $appPassword . "\n";
