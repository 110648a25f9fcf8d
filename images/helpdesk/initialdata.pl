# Plateau's seeding of Request Tracker, read by `rt-setup-database-5
# --action insert` at the node's first start (see start.sh). Every value
# comes from the environment the scenario gives the node, never from this
# file's text, so no password is quoted into Perl:
#   PLATEAU_HELPDESK_TECHNICIANS  "NAME:PASSWORD ..." the candidate's accounts
#   PLATEAU_HELPDESK_QUEUES       "Name,Name" the service desk's queues
#   PLATEAU_GRADER_SECRET         the grader's password (made by start.sh)
#   PLATEAU_ADMIN_PASSWORD        root's password, when the scenario gives one
#   PLATEAU_HELPDESK_CATALOG      the asset register's catalog ("Parc informatique")
#   PLATEAU_HELPDESK_ASSET_FIELDS "Field,Field" what it records of each asset
#                                 besides its name (serial number, MAC, user, location)
use utf8;
use Encode ();
# The environment holds UTF-8 bytes; RT wants characters.
my $env = sub { Encode::decode('UTF-8', $ENV{$_[0]} // '') };
my @technicians = map { [ split /:/, $_, 2 ] } grep { length } split /\s+/, ($ENV{PLATEAU_HELPDESK_TECHNICIANS} // '');
my $names = sub { grep { length } map { s/^\s+|\s+$//gr } split /,/, $_[0] };
my @queues = $names->($env->('PLATEAU_HELPDESK_QUEUES'));
my $catalog = $env->('PLATEAU_HELPDESK_CATALOG') || 'Parc informatique';
my @asset_fields = $names->($env->('PLATEAU_HELPDESK_ASSET_FIELDS') || 'Numéro de série,Adresse MAC,Utilisateur,Emplacement');

@Users = (
    # The grader reads everything and writes nothing a candidate would see.
    { Name => 'plateau-grader', RealName => 'Plateau (correction)', Password => $ENV{PLATEAU_GRADER_SECRET}, Privileged => 1 },
    map { { Name => $_->[0], RealName => $_->[0], Password => $_->[1], Privileged => 1, Lang => 'fr',
            EmailAddress => "$_->[0]\@support.local" } } @technicians,
);

@Groups = ({ Name => 'Techniciens', Description => 'Techniciens du centre de services' });
@Members = map { { Name => $_->[0], Group => 'Techniciens' } } @technicians;

@Queues = map { { Name => $_, Description => $_ } } @queues;

# The asset register the candidate keeps: one catalog, empty, with the
# fields an inventory records.
@Catalogs = ({ Name => $catalog, Description => "Postes et équipements de l'entreprise", Lifecycle => 'assets' });
@CustomFields = map { { Name => $_, Type => 'FreeformSingle', LookupType => 'RT::Catalog-RT::Asset', ApplyTo => [$catalog] } }
    @asset_fields;

# What a technician does in a service desk: take, qualify, comment, answer,
# resolve or escalate tickets in every queue; keep the asset register.
@ACL = (
    { UserId => 'plateau-grader', Right => 'SuperUser' },
    map { { GroupDomain => 'UserDefined', GroupId => 'Techniciens', Right => $_ } }
    qw(SeeQueue ShowTicket CreateTicket ReplyToTicket CommentOnTicket ModifyTicket OwnTicket TakeTicket StealTicket
       ShowTicketComments Watch WatchAsAdminCc SeeCustomField ModifyCustomField ShowCatalog ShowAsset ModifyAsset CreateAsset),
);

# Root's password, in this same RT process (`rt-passwd` would load RT a second
# time, seconds of CPU per help desk in a room booting at once). The loader
# only logs what fails here: start.sh reads its log.
@Final = (sub {
    my $password = $env->('PLATEAU_ADMIN_PASSWORD');
    return unless length $password;
    my $root = RT::User->new(RT->SystemUser);
    $root->Load('root');
    my ($ok, $message) = $root->SetPassword($password);
    RT->Logger->error("root's password not set: $message") unless $ok;
});
1;
